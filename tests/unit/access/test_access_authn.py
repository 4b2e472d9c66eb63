"""The authn stage: JWT with bound algorithms, JWKS, API keys and introspection."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from access_gate import Gate
from token_support import (
    ISSUER,
    Jwks,
    LoopbackServer,
    b64,
    claims,
    ec_key,
    ed_key,
    forge,
    public_jwk,
    public_pem,
    rsa_key,
    sign,
    sign_payload,
)

from apiward.gateway.pipeline import Exchange
from apiward.policy.loader import PolicyError

HMAC_SECRET = b"0123456789abcdef0123456789abcdef-test-only"


def route(authn: str) -> str:
    return f"""
routes:
  - name: api
    match: {{path: /api/}}
    upstream: app
    authn:
{authn}
"""


STATIC = route(f"""
      jwt:
        issuer: {ISSUER}
        audience: [shop]
        keys:
          - {{kid: rsa1, algorithm: RS256, pem: file:rsa.pem}}
          - {{kid: ec1, algorithm: ES256, pem: file:ec.pem}}
          - {{kid: ed1, algorithm: EdDSA, jwk: file:ed.jwk}}
          - {{kid: ps1, algorithm: PS256, pem: file:rsa.pem}}
          - {{kid: hs1, algorithm: HS256, secret: env:APIWARD_TEST_HMAC}}
""")


@pytest.fixture
def keys_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "rsa.pem").write_bytes(public_pem(rsa_key()))
    (tmp_path / "ec.pem").write_bytes(public_pem(ec_key()))
    (tmp_path / "ed.jwk").write_text(json.dumps(public_jwk(ed_key(), "ed1")))
    monkeypatch.setenv("APIWARD_TEST_HMAC", HMAC_SECRET.decode())
    return tmp_path


@pytest.fixture
def static(gate: Callable[..., Gate], keys_dir: Path) -> Gate:
    return gate(STATIC)


async def bearer(g: Gate, token: str, **kwargs: Any) -> Exchange:
    return await g.send(path="/api/x", headers=[("authorization", f"Bearer {token}")], **kwargs)


def reason(exchange: Exchange) -> str:
    assert exchange.verdict is not None
    return str(exchange.verdict.details.get("reason"))


@pytest.mark.parametrize(
    ("kid", "alg", "key"),
    [("rsa1", "RS256", rsa_key), ("ec1", "ES256", ec_key), ("ed1", "EdDSA", ed_key),
     ("ps1", "PS256", rsa_key), ("hs1", "HS256", lambda: HMAC_SECRET)],
)
async def test_valid_token_each_family(static: Gate, kid: str, alg: str, key: Any) -> None:
    exchange = await bearer(static, sign(key(), alg, headers={"kid": kid}))

    assert exchange.status == 200
    assert exchange.identity is not None
    assert exchange.identity.subject == "alice"
    assert exchange.identity.consumer == "web"
    assert exchange.identity.scopes == frozenset({"orders:read", "profile"})
    assert exchange.identity.roles == frozenset({"user"})


async def test_alg_none_rejected(static: Gate) -> None:
    for alg in ("none", "None", "NONE"):
        token = forge({"alg": alg, "kid": "rsa1"}, claims(), None)
        exchange = await bearer(static, token)
        assert exchange.status == 401
        assert "not accepted" in reason(exchange)


async def test_hs256_with_rsa_pem_rejected(static: Gate) -> None:
    pem = public_pem(rsa_key())
    for kid in ("rsa1", "hs1", None):
        header = {"alg": "HS256"} | ({"kid": kid} if kid else {})
        exchange = await bearer(static, forge(header, claims(), pem))
        assert exchange.status == 401, kid


async def test_hs256_with_rsa_jwk_rejected(static: Gate) -> None:
    jwk_bytes = json.dumps(public_jwk(rsa_key(), "rsa1")).encode()
    exchange = await bearer(static, forge({"alg": "HS256", "kid": "rsa1"}, claims(), jwk_bytes))

    assert exchange.status == 401


async def test_rs_token_with_hs_kid_rejected(static: Gate) -> None:
    exchange = await bearer(static, sign(rsa_key(), "RS256", headers={"kid": "hs1"}))

    assert exchange.status == 401
    assert "no key for algorithm RS256" in reason(exchange)


async def test_expired_rejected_without_leeway(static: Gate) -> None:
    exchange = await bearer(static, sign(rsa_key(), exp=int(time.time()) - 5))

    assert exchange.status == 401
    assert reason(exchange) == "expired"


async def test_not_yet_valid_rejected(static: Gate) -> None:
    exchange = await bearer(static, sign(rsa_key(), nbf=int(time.time()) + 5))

    assert exchange.status == 401
    assert reason(exchange) == "not yet valid (nbf)"


async def test_leeway_accepts_small_skew(gate: Callable[..., Gate], keys_dir: Path) -> None:
    g = gate(STATIC.replace("audience: [shop]", "audience: [shop]\n        leeway: 30s"))
    now = int(time.time())

    assert (await bearer(g, sign(rsa_key(), exp=now - 5))).status == 200
    assert (await bearer(g, sign(rsa_key(), nbf=now + 5, sub="bob"))).status == 200
    assert (await bearer(g, sign(rsa_key(), exp=now - 60, sub="carol"))).status == 401
    assert (await bearer(g, sign(rsa_key(), nbf=now + 60, sub="dave"))).status == 401


async def test_exp_required(static: Gate) -> None:
    exchange = await bearer(static, sign(rsa_key(), exp=None))

    assert exchange.status == 401
    assert reason(exchange) == "required claim 'exp' missing"


async def test_issuer_must_match_exactly(static: Gate) -> None:
    for issuer in (ISSUER + ".evil", "x" + ISSUER, ISSUER + "/", ISSUER[:-1], [ISSUER], None):
        exchange = await bearer(static, sign_payload(rsa_key(), claims(iss=issuer)))
        assert exchange.status == 401, issuer
        assert reason(exchange) == "issuer does not match"


async def test_audience_checked(static: Gate) -> None:
    assert (await bearer(static, sign(rsa_key(), aud=["other", "shop"]))).status == 200
    assert (await bearer(static, sign(rsa_key(), aud="shopping"))).status == 401


async def test_unknown_crit_rejected(static: Gate) -> None:
    token = sign(rsa_key(), headers={"kid": "rsa1", "crit": ["exp-ext"], "exp-ext": 1})
    exchange = await bearer(static, token)

    assert exchange.status == 401
    assert "crit" in reason(exchange)


async def test_jku_and_x5u_never_fetched(static: Gate) -> None:
    canary = await LoopbackServer().start()
    attacker = rsa_key("attacker")
    try:
        for name in ("jku", "x5u"):
            headers = {"kid": "attacker", name: canary.url + "/keys"}
            assert (await bearer(static, sign(attacker, headers=headers))).status == 401
        embedded = {"kid": "rsa1", "jwk": public_jwk(attacker, "rsa1")}
        assert (await bearer(static, sign(attacker, headers=embedded))).status == 401
        await asyncio.sleep(0.05)
    finally:
        await canary.close()

    assert canary.connections == 0


async def test_query_token_ignored_unless_configured(static: Gate) -> None:
    token = sign(rsa_key())
    exchange = await static.send(path="/api/x", query=f"access_token={token}")

    assert exchange.status == 401
    assert exchange.verdict is not None
    assert exchange.verdict.code == "authentication_required"
    assert exchange.identity is None


async def test_query_and_cookie_when_configured(gate: Callable[..., Gate], keys_dir: Path) -> None:
    g = gate(STATIC.replace("audience: [shop]", "audience: [shop]\n        query: access_token\n"
                            "        cookie: session"))
    token = sign(rsa_key())

    assert (await g.send(path="/api/x", query=f"access_token={token}")).status == 200
    assert (await g.send(path="/api/x", headers=[("cookie", f"a=b; session={token}")])).status == 200
    both = await g.send(path="/api/x", query=f"access_token={token}",
                        headers=[("authorization", f"Bearer {token}")])
    assert both.status == 400


async def test_missing_token_challenge(static: Gate) -> None:
    exchange = await static.send(path="/api/x")

    assert exchange.verdict is not None
    assert dict(exchange.verdict.headers)["www-authenticate"] == 'Bearer realm="api"'


async def test_invalid_token_challenge_hides_reason(static: Gate) -> None:
    exchange = await bearer(static, sign(rsa_key(), exp=int(time.time()) - 100))

    assert exchange.verdict is not None
    challenge = dict(exchange.verdict.headers)["www-authenticate"]
    assert challenge == (
        'Bearer realm="api", error="invalid_token", '
        'error_description="The access token is invalid or has expired."'
    )
    assert exchange.verdict.message == "The access token is invalid or has expired."
    assert exchange.verdict.details == {"reason": "expired"}


async def test_malformed_tokens_rejected(static: Gate) -> None:
    good = sign(rsa_key())
    head, body, signature = good.split(".")
    for token in ("", "abc", good + ".x", f"{head}.{body}", f"{head}!.{body}.{signature}",
                  f"{b64(b'[1]')}.{body}.{signature}", "a" * 20000):
        exchange = await bearer(static, token)
        assert exchange.status in (400, 401), token[:30]


async def test_verified_token_cached(static: Gate) -> None:
    stage: Any = static.stage("api", "authn")
    token = sign(rsa_key(), sub="cached")
    first = await bearer(static, token)
    second = await bearer(static, token)

    assert first.identity is second.identity
    assert len(stage.verifier.cache) == 1


@pytest.mark.parametrize("part", [1, 2])
async def test_altered_token_misses_cache(static: Gate, part: int) -> None:
    stage: Any = static.stage("api", "authn")
    token = sign(rsa_key(), sub="cached")
    parts = token.split(".")
    middle = len(parts[part]) // 2
    flipped = "A" if parts[part][middle] != "A" else "B"
    parts[part] = parts[part][:middle] + flipped + parts[part][middle + 1:]
    altered = ".".join(parts)
    first = await bearer(static, token)
    exchange = await bearer(static, altered)
    again = await bearer(static, token)

    assert exchange.status == 401
    assert reason(exchange) == "signature does not verify"
    assert list(stage.verifier.cache) == [token]
    assert again.identity is first.identity


async def test_cache_entry_expires_with_token(static: Gate) -> None:
    token = sign(rsa_key(), exp=int(time.time()) + 1)
    assert (await bearer(static, token)).status == 200
    await asyncio.sleep(1.1)

    assert (await bearer(static, token)).status == 401


def test_inline_secret_rejected(gate: Callable[..., Gate]) -> None:
    policy = route("      jwt: {keys: [{algorithm: HS256, secret: supersecretvalue}]}")
    with pytest.raises(PolicyError, match="inline secrets are not allowed"):
        gate(policy)


def test_secret_key_bound_to_hs(gate: Callable[..., Gate]) -> None:
    policy = route("      jwt: {keys: [{algorithm: RS256, secret: env:X}]}")
    with pytest.raises(PolicyError, match="verifies only HS256"):
        gate(policy)


def test_pem_of_wrong_type_rejected(gate: Callable[..., Gate], keys_dir: Path) -> None:
    with pytest.raises(ValueError, match="ES256 needs an EC public key"):
        gate(route("      jwt: {keys: [{algorithm: ES256, pem: file:rsa.pem}]}"))


def test_missing_key_file_is_clear(gate: Callable[..., Gate]) -> None:
    with pytest.raises(ValueError, match="cannot read secret file"):
        gate(route("      jwt: {keys: [{algorithm: RS256, pem: file:nowhere.pem}]}"))


# JWKS


@pytest.fixture
async def idp() -> AsyncIterator[Jwks]:
    server = await Jwks([public_jwk(rsa_key(), "k1"), public_jwk(ec_key(), "e1")]).start()
    yield server  # type: ignore[misc]
    await server.close()


def jwks_policy(url: str) -> str:
    return route(f"""
      jwt:
        issuer: {ISSUER}
        jwks: {{url: "{url}/jwks", min_refresh_interval: 30s, timeout: 1s}}
""")


async def test_jwks_keys_verify(gate: Callable[..., Gate], idp: Jwks) -> None:
    g = gate(jwks_policy(idp.url))

    assert (await bearer(g, sign(rsa_key(), headers={"kid": "k1"}))).status == 200
    assert (await bearer(g, sign(ec_key(), "ES256", headers={"kid": "e1"}))).status == 200
    assert idp.fetches == 1


async def test_unknown_kid_refreshes_once(gate: Callable[..., Gate], idp: Jwks) -> None:
    g = gate(jwks_policy(idp.url))
    await bearer(g, sign(rsa_key(), headers={"kid": "k1"}))
    stranger = rsa_key("stranger")
    tokens = [sign(stranger, headers={"kid": "nope"}, sub=f"s{n}") for n in range(5)]
    results = await asyncio.gather(*(bearer(g, token) for token in tokens))
    later = await bearer(g, sign(stranger, headers={"kid": "nope2"}))

    assert [exchange.status for exchange in results] == [401] * 5
    assert later.status == 401
    assert idp.fetches == 2


async def test_rotated_key_found_on_refresh(gate: Callable[..., Gate], idp: Jwks) -> None:
    g = gate(jwks_policy(idp.url))
    await bearer(g, sign(rsa_key(), headers={"kid": "k1"}))
    idp.keys.append(public_jwk(rsa_key("rotated"), "k2"))

    assert (await bearer(g, sign(rsa_key("rotated"), headers={"kid": "k2"}))).status == 200
    assert idp.fetches == 2


async def test_idp_down_keeps_cached_keys(gate: Callable[..., Gate], idp: Jwks) -> None:
    g = gate(jwks_policy(idp.url))
    stage: Any = g.stage("api", "authn")
    assert (await bearer(g, sign(rsa_key(), headers={"kid": "k1"}, sub="a"))).status == 200
    idp.status = 503
    await stage.jwks.refresh()

    assert stage.jwks.failures == 1
    assert (await bearer(g, sign(rsa_key(), headers={"kid": "k1"}, sub="b"))).status == 200


async def test_jwks_symmetric_keys_ignored(gate: Callable[..., Gate], idp: Jwks) -> None:
    idp.keys.append({"kty": "oct", "kid": "h1", "k": b64(HMAC_SECRET), "alg": "HS256"})
    g = gate(jwks_policy(idp.url))
    token = forge({"alg": "HS256", "kid": "h1"}, claims(), HMAC_SECRET)

    assert (await bearer(g, token)).status == 401


async def test_jwks_start_schedules_fetch(gate: Callable[..., Gate], idp: Jwks) -> None:
    g = gate(jwks_policy(idp.url))
    stage: Any = g.stage("api", "authn")
    await stage.start()
    for _ in range(100):
        if stage.jwks.loaded:
            break
        await asyncio.sleep(0.01)
    await stage.close()

    assert stage.jwks.loaded
    assert idp.fetches == 1


# API keys and introspection

API_KEY = "ak_live_0123456789"
API_KEYS = route(f"""
      api_key:
        keys:
          - {{sha256: {hashlib.sha256(API_KEY.encode()).hexdigest()}, consumer: shop, scopes: [orders:read]}}
""")


async def test_api_key_maps_consumer(gate: Callable[..., Gate]) -> None:
    g = gate(API_KEYS)
    exchange = await g.send(path="/api/x", headers=[("x-api-key", API_KEY)])

    assert exchange.status == 200
    assert exchange.identity is not None
    assert exchange.identity.consumer == "shop"
    assert exchange.identity.method == "api_key"


async def test_api_key_wrong_or_in_query(gate: Callable[..., Gate]) -> None:
    g = gate(API_KEYS)

    assert (await g.send(path="/api/x", headers=[("x-api-key", API_KEY + "x")])).status == 401
    assert (await g.send(path="/api/x", query=f"api_key={API_KEY}")).status == 401
    assert (await g.send(path="/api/x", headers=[("x-api-key", API_KEY)] * 2)).status == 400


def test_api_key_plaintext_rejected(gate: Callable[..., Gate]) -> None:
    with pytest.raises(PolicyError, match="expected 64 hex digits"):
        gate(route("      api_key: {keys: [{sha256: ak_live_123, consumer: shop}]}"))


@pytest.fixture
async def authorization_server() -> AsyncIterator[LoopbackServer]:
    def respond(method: str, path: str, body: bytes) -> tuple[int, bytes]:
        token = dict(pair.split("=", 1) for pair in body.decode().split("&"))["token"]
        if token == "opaque-good":
            document: dict[str, Any] = {"active": True, "sub": "bob", "client_id": "cli",
                                        "scope": "a b", "exp": int(time.time()) + 300}
        else:
            document = {"active": False}
        return 200, json.dumps(document).encode()

    server = await LoopbackServer(respond).start()
    yield server
    await server.close()


def introspection_policy(url: str) -> str:
    return route(f"""
      introspection: {{url: "{url}/introspect", client_id: gw, client_secret: env:APIWARD_TEST_CLIENT_SECRET,
                       timeout: 1s}}
""")


async def test_introspection_active_cached(
    gate: Callable[..., Gate], authorization_server: LoopbackServer, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("APIWARD_TEST_CLIENT_SECRET", "s3")
    g = gate(introspection_policy(authorization_server.url))
    first = await bearer(g, "opaque-good")
    second = await bearer(g, "opaque-good")
    stage: Any = g.stage("api", "authn")
    await stage.close()

    assert first.status == second.status == 200
    assert first.identity is not None
    assert first.identity.subject == "bob"
    assert first.identity.scopes == frozenset({"a", "b"})
    assert len(authorization_server.requests) == 1
    assert b"token=opaque-good" in authorization_server.requests[0][2]


async def test_introspection_inactive_and_down(
    gate: Callable[..., Gate], authorization_server: LoopbackServer, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("APIWARD_TEST_CLIENT_SECRET", "s3")
    g = gate(introspection_policy(authorization_server.url))
    inactive = await bearer(g, "opaque-bad")
    await authorization_server.close()
    down = await bearer(g, "opaque-other")
    stage: Any = g.stage("api", "authn")
    await stage.close()

    assert inactive.status == 401
    assert down.status == 503


@pytest.mark.parametrize(
    "url", ["http://idp.example.test/jwks", "ftp://127.0.0.1/jwks", "https:///jwks", "/jwks"],
)
def test_provider_url_must_be_https(gate: Callable[..., Gate], url: str) -> None:
    with pytest.raises(PolicyError, match="expected an https:// URL"):
        gate(jwks_policy(url.removesuffix("/jwks")))


async def test_jwks_refreshes_on_schedule(gate: Callable[..., Gate], idp: Jwks) -> None:
    g = gate(jwks_policy(idp.url).replace("timeout: 1s}", "timeout: 1s, refresh: 50ms}"))
    stage: Any = g.stage("api", "authn")
    await stage.start()
    for _ in range(200):
        if idp.fetches >= 3:
            break
        await asyncio.sleep(0.01)
    await stage.close()

    assert idp.fetches >= 3


async def test_api_key_query_when_configured(gate: Callable[..., Gate]) -> None:
    g = gate(API_KEYS.replace("api_key:\n", "api_key:\n        query: api_key\n"))
    exchange = await g.send(path="/api/x", query=f"page=2&api_key={API_KEY}")

    assert exchange.status == 200
    assert exchange.identity is not None
    assert exchange.identity.consumer == "shop"
