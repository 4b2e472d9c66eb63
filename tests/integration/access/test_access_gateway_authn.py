"""Token attacks against a real gateway with a JWKS identity provider on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from access_client import fetch
from identity_provider import Canary, IdentityProvider
from tests.support.echo import EchoUpstream
from tests.support.gateway import GatewayThread, policy_yaml
from tests.unit.access.token_support import (
    ISSUER,
    claims,
    forge,
    public_jwk,
    public_pem,
    rsa_key,
    sign,
    sign_payload,
)


@pytest.fixture
def idp() -> Iterator[IdentityProvider]:
    provider = IdentityProvider([public_jwk(rsa_key(), "k1", "RS256")])
    yield provider
    provider.close()


@pytest.fixture
def canary() -> Iterator[Canary]:
    listener = Canary()
    yield listener
    listener.close()


@pytest.fixture
def gateway(
    echo_upstream: EchoUpstream, start_gateway: Callable[[str], GatewayThread], idp: IdentityProvider,
    tmp_path: Path,
) -> GatewayThread:
    (tmp_path / "rsa.pem").write_bytes(public_pem(rsa_key()))
    route = f"""    authn:
      jwt:
        issuer: {ISSUER}
        leeway: 0s
        keys: [{{kid: static1, algorithm: RS256, pem: file:rsa.pem}}]
        jwks: {{url: "{idp.url}", min_refresh_interval: 60s, timeout: 2s}}
"""
    gateway = start_gateway(policy_yaml(echo_upstream.address, route=route))
    deadline = time.monotonic() + 5
    while idp.fetches == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    return gateway


def status(gateway: GatewayThread, token: str | None = None, path: str = "/x") -> int:
    headers = [("Authorization", f"Bearer {token}")] if token is not None else []
    return asyncio.run(fetch(gateway.port, path, headers))[0]


def test_valid_tokens_pass(gateway: GatewayThread) -> None:
    assert status(gateway, sign(rsa_key(), headers={"kid": "k1"})) == 200
    assert status(gateway, sign(rsa_key(), headers={"kid": "static1"}, sub="bob")) == 200


def test_alg_none_denied(gateway: GatewayThread) -> None:
    assert status(gateway, forge({"alg": "none", "kid": "k1"}, claims(), None)) == 401


def test_hs256_with_public_key_bytes_denied(gateway: GatewayThread) -> None:
    pem = public_pem(rsa_key())
    jwk = json.dumps(public_jwk(rsa_key(), "k1", "RS256")).encode()

    assert status(gateway, forge({"alg": "HS256", "kid": "k1"}, claims(), pem)) == 401
    assert status(gateway, forge({"alg": "HS256", "kid": "static1"}, claims(), pem)) == 401
    assert status(gateway, forge({"alg": "HS256", "kid": "k1"}, claims(), jwk)) == 401


def test_time_claims_denied(gateway: GatewayThread) -> None:
    now = int(time.time())

    assert status(gateway, sign(rsa_key(), headers={"kid": "k1"}, exp=now - 2)) == 401
    assert status(gateway, sign(rsa_key(), headers={"kid": "k1"}, nbf=now + 30)) == 401


def test_issuer_containing_expected_denied(gateway: GatewayThread) -> None:
    for issuer in (ISSUER + ".attacker.test", "https://attacker.test/" + ISSUER):
        assert status(gateway, sign_payload(rsa_key(), claims(iss=issuer))) == 401


def test_jku_and_x5u_never_fetched(gateway: GatewayThread, canary: Canary, idp: IdentityProvider) -> None:
    attacker = rsa_key("attacker")
    for name in ("jku", "x5u"):
        token = sign(attacker, headers={"kid": "attacker-" + name, name: canary.url + "/keys.json"})
        assert status(gateway, token) == 401
    time.sleep(0.3)

    assert canary.connections == 0
    assert idp.fetches == 2


def test_query_token_denied_when_header_only(gateway: GatewayThread) -> None:
    token = sign(rsa_key(), headers={"kid": "k1"})

    assert status(gateway, path=f"/x?access_token={token}") == 401


def test_unknown_crit_denied(gateway: GatewayThread) -> None:
    token = sign(rsa_key(), headers={"kid": "k1", "crit": ["urn:example:ext"], "urn:example:ext": True})

    assert status(gateway, token) == 401


def test_unknown_kid_refreshes_once(gateway: GatewayThread, idp: IdentityProvider) -> None:
    stranger = rsa_key("stranger")

    async def run() -> list[int]:
        tokens = [sign(stranger, headers={"kid": f"unknown-{n % 3}"}, sub=f"u{n}") for n in range(12)]
        headers = [[("Authorization", f"Bearer {token}")] for token in tokens]
        results = await asyncio.gather(*(fetch(gateway.port, "/x", h) for h in headers))
        return [code for code, _ in results]

    assert asyncio.run(run()) == [401] * 12
    assert idp.fetches == 2


def test_www_authenticate_on_denial(gateway: GatewayThread) -> None:
    token = sign(rsa_key(), headers={"kid": "k1"}, exp=int(time.time()) - 60)
    code, headers = asyncio.run(fetch(gateway.port, "/x", [("Authorization", f"Bearer {token}")]))

    assert code == 401
    assert headers["www-authenticate"].startswith('Bearer realm="api", error="invalid_token"')
