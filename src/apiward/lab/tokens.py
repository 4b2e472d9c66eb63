"""Bearer tokens of the lab API: HS256 JWTs whose checks can each be left out on purpose.

Four holes live here, each closable on its own: ``jwt-weak-secret`` (the key is "secret"),
``jwt-alg-none`` (unsigned tokens pass), ``jwt-bad-signature`` (the signature is never compared)
and ``jwt-expired`` (the exp claim is ignored).

The tokens are encoded and checked here rather than with PyJWT, because PyJWT warns about (or
rejects) the deliberately short key, and because the lesson is easier to follow when every check
is a visible line.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
from typing import Any

from apiward.lab.holes import HoleSet

WEAK_SECRET = "secret"
"""The signing key while ``jwt-weak-secret`` is open; it is in every common word list."""

TOKEN_LIFETIME_SECONDS = 900
ALGORITHM = "HS256"


class TokenError(Exception):
    """A bearer token was rejected; the message gives the reason, in words safe to return to the client."""


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(signing_input: str, secret: str) -> str:
    return _b64encode(hmac.new(secret.encode(), signing_input.encode("ascii"), hashlib.sha256).digest())


def _decode_json(segment: str, name: str) -> dict[str, Any]:
    try:
        value = json.loads(_b64decode(segment))
    except (binascii.Error, ValueError) as error:
        raise TokenError(f"malformed token {name}") from error
    if not isinstance(value, dict):
        raise TokenError(f"malformed token {name}")
    return value


def encode_hs256(claims: dict[str, Any], secret: str) -> str:
    """Return a compact HS256 JWT of ``claims`` signed with ``secret``."""
    header = _b64encode(json.dumps({"alg": ALGORITHM, "typ": "JWT"}, separators=(",", ":")).encode())
    payload = _b64encode(json.dumps(claims, separators=(",", ":")).encode())
    signing_input = f"{header}.{payload}"
    return f"{signing_input}.{_sign(signing_input, secret)}"


class TokenService:
    """Issue and verify the lab's bearer tokens for one app instance."""

    def __init__(self, holes: HoleSet) -> None:
        self._holes = holes
        self.secret = WEAK_SECRET if holes.is_open("jwt-weak-secret") else secrets.token_urlsafe(32)

    def issue(self, username: str, role: str, lifetime: int = TOKEN_LIFETIME_SECONDS) -> str:
        now = int(time.time())
        return encode_hs256({"sub": username, "role": role, "iat": now, "exp": now + lifetime}, self.secret)

    def verify(self, token: str) -> dict[str, Any]:
        """Return the claims of ``token``, or raise TokenError.

        Steps: 1. split and decode header and payload; 2. check the algorithm and the signature,
        unless the alg-none or bad-signature hole skips it; 3. check exp unless the expiry hole
        is open; 4. require a string subject.
        """
        parts = token.split(".")
        if len(parts) != 3:
            raise TokenError("malformed token: expected three dot-separated parts")
        header = _decode_json(parts[0], "header")
        claims = _decode_json(parts[1], "payload")

        algorithm = str(header.get("alg", ""))
        if algorithm.lower() == "none":
            if not self._holes.is_open("jwt-alg-none"):
                raise TokenError("unsigned tokens are not accepted")
        elif algorithm != ALGORITHM:
            raise TokenError(f"unsupported token algorithm {algorithm!r}; expected {ALGORITHM}")
        elif not self._holes.is_open("jwt-bad-signature"):
            expected = _sign(f"{parts[0]}.{parts[1]}", self.secret)
            if not hmac.compare_digest(expected, parts[2]):
                raise TokenError("invalid token signature")

        expires = claims.get("exp")
        if not isinstance(expires, int | float):
            raise TokenError("token has no numeric exp claim")
        if expires <= time.time() and not self._holes.is_open("jwt-expired"):
            raise TokenError("token expired")
        if not isinstance(claims.get("sub"), str):
            raise TokenError("token subject is missing or not a string")
        return claims
