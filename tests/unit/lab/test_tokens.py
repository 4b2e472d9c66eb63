"""The lab's token verifier: each JWT hole opens exactly one gap."""

from __future__ import annotations

import time

import pytest

from apiward.lab.holes import HoleSet
from apiward.lab.tokens import WEAK_SECRET, TokenError, TokenService, encode_hs256


def fixed_service() -> TokenService:
    return TokenService(HoleSet(True))


def test_issued_token_verifies() -> None:
    service = fixed_service()
    claims = service.verify(service.issue("alice", "user"))
    assert claims["sub"] == "alice"
    assert claims["role"] == "user"


def test_fixed_secret_is_random() -> None:
    assert fixed_service().secret != WEAK_SECRET
    assert fixed_service().secret != fixed_service().secret


def test_open_secret_is_weak() -> None:
    assert TokenService(HoleSet(False)).secret == WEAK_SECRET


@pytest.mark.parametrize(
    "token, message",
    [
        ("not-a-token", "three dot-separated parts"),
        ("a.b.c", "malformed token header"),
        ("eyJhbGciOiJSUzI1NiJ9.e30.x", "unsupported token algorithm 'RS256'"),
        ("eyJhbGciOiJub25lIn0.eyJzdWIiOiJhIiwiZXhwIjo5OTk5OTk5OTk5fQ.", "unsigned tokens are not accepted"),
    ],
)
def test_fixed_rejects(token: str, message: str) -> None:
    with pytest.raises(TokenError, match=message):
        fixed_service().verify(token)


def test_fixed_rejects_wrong_key() -> None:
    token = encode_hs256({"sub": "alice", "exp": time.time() + 60}, "another-key")
    with pytest.raises(TokenError, match="invalid token signature"):
        fixed_service().verify(token)


def test_fixed_rejects_expired() -> None:
    service = fixed_service()
    token = encode_hs256({"sub": "alice", "exp": time.time() - 1}, service.secret)
    with pytest.raises(TokenError, match="token expired"):
        service.verify(token)


def test_missing_exp_rejected_even_when_open() -> None:
    service = TokenService(HoleSet(False))
    with pytest.raises(TokenError, match="no numeric exp"):
        service.verify(encode_hs256({"sub": "alice"}, service.secret))


def test_expired_hole_keeps_signature_check() -> None:
    service = TokenService(HoleSet(set(HoleSet(False).open_ids()) - {"jwt-expired"}))
    expired = encode_hs256({"sub": "alice", "exp": time.time() - 60}, service.secret)
    assert service.verify(expired)["sub"] == "alice"
    with pytest.raises(TokenError, match="invalid token signature"):
        service.verify(encode_hs256({"sub": "alice", "exp": time.time() - 60}, "another-key"))
