"""The authz stage: scopes, roles, claims, object binding and the enumeration signal."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import pytest
from access_gate import Gate

from apiward.state import StateStore


def key_entry(key: str, consumer: str, scopes: str = "[]", roles: str = "[]") -> str:
    digest = hashlib.sha256(key.encode()).hexdigest()
    return f"{{sha256: {digest}, consumer: {consumer}, scopes: {scopes}, roles: {roles}}}"


POLICY = f"""
defaults:
  authn:
    required: false
    api_key:
      keys:
        - {key_entry("alice-key", "alice", "[orders:read]")}
        - {key_entry("bob-key", "bob", "[orders:read, orders:write]")}
        - {key_entry("admin-key", "root", "[orders:read]", "[admin]")}
routes:
  - name: user-orders
    match: {{path: "/users/{{user_id}}/orders"}}
    upstream: app
    authz:
      rules:
        - {{methods: [GET], scopes: [orders:read]}}
        - {{methods: [POST, DELETE], scopes: [orders:write]}}
      bind:
        - {{param: user_id, claim: sub, unless_roles: [admin]}}
      enumeration: {{distinct_ids: 3, window: 1m}}
  - name: reports
    match: {{path: /reports}}
    upstream: app
    authz:
      rules: [{{roles: [admin, auditor]}}]
      bind: [{{param: "query:owner", unless_roles: [admin]}}]
  - name: public
    match: {{path: /public}}
    upstream: app
    authz: {{require_authentication: false}}
"""


async def call(g: Gate, key: str | None, route: str = "user-orders", **kwargs: Any) -> int:
    headers = [("x-api-key", key)] if key else []
    exchange = await g.send(route, headers=headers, **kwargs)
    return exchange.status


async def test_owner_reads_own_orders(gate: Callable[..., Gate]) -> None:
    g = gate(POLICY)

    assert await call(g, "alice-key", path="/users/alice/orders", path_params={"user_id": "alice"}) == 200


async def test_other_users_orders_denied(gate: Callable[..., Gate]) -> None:
    g = gate(POLICY)
    exchange = await g.send("user-orders", headers=[("x-api-key", "alice-key")], path="/users/bob/orders",
                            path_params={"user_id": "bob"})

    assert exchange.status == 403
    assert exchange.verdict is not None
    assert exchange.verdict.category == "API1:2023"


async def test_admin_role_bypasses_binding(gate: Callable[..., Gate]) -> None:
    g = gate(POLICY)

    assert await call(g, "admin-key", path="/users/bob/orders", path_params={"user_id": "bob"}) == 200


async def test_anonymous_denied_by_default(gate: Callable[..., Gate]) -> None:
    g = gate(POLICY)
    exchange = await g.send("user-orders", path="/users/alice/orders", path_params={"user_id": "alice"})

    assert exchange.status == 401
    assert await call(g, None, "public", path="/public") == 200


async def test_missing_scope_gets_insufficient_scope(gate: Callable[..., Gate]) -> None:
    g = gate(POLICY)
    exchange = await g.send("user-orders", headers=[("x-api-key", "alice-key")], method="DELETE",
                            path="/users/alice/orders", path_params={"user_id": "alice"})

    assert exchange.status == 403
    assert exchange.verdict is not None
    assert exchange.verdict.code == "insufficient_scope"
    assert dict(exchange.verdict.headers)["www-authenticate"] == (
        'Bearer error="insufficient_scope", scope="orders:write"'
    )
    assert await call(g, "bob-key", method="DELETE", path="/users/bob/orders",
                      path_params={"user_id": "bob"}) == 200


async def test_role_rule_and_query_binding(gate: Callable[..., Gate]) -> None:
    g = gate(POLICY)

    assert await call(g, "alice-key", "reports", path="/reports", query="owner=alice") == 403
    assert await call(g, "admin-key", "reports", path="/reports", query="owner=alice") == 200


async def test_query_binding_pollution_denied(gate: Callable[..., Gate]) -> None:
    policy = POLICY.replace("rules: [{roles: [admin, auditor]}]", "rules: []")
    g = gate(policy)

    assert await call(g, "alice-key", "reports", path="/reports", query="owner=alice") == 200
    assert await call(g, "alice-key", "reports", path="/reports", query="owner=alice&owner=bob") == 403
    assert await call(g, "alice-key", "reports", path="/reports", query="") == 403


async def test_claim_rule(gate: Callable[..., Gate]) -> None:
    policy = POLICY.replace("rules: [{roles: [admin, auditor]}]", "rules: [{claims: {sub: [root, carol]}}]")
    g = gate(policy)

    assert await call(g, "admin-key", "reports", path="/reports", query="owner=x") == 200
    assert await call(g, "alice-key", "reports", path="/reports", query="owner=alice") == 403


def test_binding_to_unknown_param_rejected(gate: Callable[..., Gate]) -> None:
    with pytest.raises(ValueError, match="parameter 'id' is not in the route path"):
        gate(POLICY.replace("{param: user_id, claim: sub", "{param: id, claim: sub"))


async def test_enumeration_raises_event(gate: Callable[..., Gate], state: StateStore) -> None:
    g = gate(POLICY, state)
    exchanges = []
    for victim in ("bob", "carol", "dave", "erin"):
        exchanges.append(await g.send("user-orders", headers=[("x-api-key", "alice-key")],
                                      path=f"/users/{victim}/orders", path_params={"user_id": victim}))

    events = [event for exchange in exchanges for event in exchange.events]
    signals = [event for event in events if event.code == "object_enumeration"]
    assert [exchange.status for exchange in exchanges] == [403] * 4
    assert len(signals) == 1
    assert signals[0].action == "logged"
    assert signals[0].details["caller"] == "sub=alice"
    assert exchanges[2].events == signals


async def test_enumeration_counts_upstream_404(gate: Callable[..., Gate]) -> None:
    g = gate(POLICY)
    exchanges = [
        await g.send("user-orders", headers=[("x-api-key", "admin-key")], path=f"/users/u{n}/orders",
                     path_params={"user_id": f"u{n}"}, status=404)
        for n in range(3)
    ]

    assert [len(exchange.events) for exchange in exchanges] == [0, 0, 1]


async def test_repeated_id_not_enumeration(gate: Callable[..., Gate]) -> None:
    g = gate(POLICY)
    exchanges = [
        await g.send("user-orders", headers=[("x-api-key", "alice-key")], path="/users/bob/orders",
                     path_params={"user_id": "bob"})
        for _ in range(5)
    ]

    assert all(exchange.events == [] for exchange in exchanges)


async def test_enumeration_can_ban(gate: Callable[..., Gate], state: StateStore) -> None:
    policy = POLICY.replace("enumeration: {distinct_ids: 3, window: 1m}",
                            "enumeration: {distinct_ids: 3, window: 1m, ban: 5m}")
    g = gate(policy, state)
    for victim in ("bob", "carol", "dave"):
        await g.send("user-orders", headers=[("x-api-key", "alice-key")], client="192.0.2.66",
                     path=f"/users/{victim}/orders", path_params={"user_id": victim})

    ban = await state.banned("192.0.2.66")
    assert ban is not None
    assert ban.reason == "object enumeration"


async def test_binding_to_jwt_claim(gate: Callable[..., Gate], monkeypatch: pytest.MonkeyPatch) -> None:
    from token_support import sign

    secret = "claims-test-secret-0123456789abcdef"
    monkeypatch.setenv("APIWARD_TEST_CLAIMS_SECRET", secret)
    g = gate("""
routes:
  - name: tenant
    match: {path: "/tenants/{tenant}/invoices"}
    upstream: app
    authn: {jwt: {keys: [{algorithm: HS256, secret: env:APIWARD_TEST_CLAIMS_SECRET}]}}
    authz: {bind: [{param: tenant, claim: org}]}
""")

    async def status(org: object, tenant: str) -> int:
        token = sign(secret.encode(), "HS256", org=org, iss=None, aud=None)
        exchange = await g.send("tenant", headers=[("authorization", f"Bearer {token}")],
                                path=f"/tenants/{tenant}/invoices", path_params={"tenant": tenant})
        return exchange.status

    assert await status("acme", "acme") == 200
    assert await status("acme", "globex") == 403
    assert await status(None, "acme") == 403
    assert await status(["acme"], "acme") == 403
