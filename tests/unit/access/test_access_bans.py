"""The bans stage: denials of other stages ban a client, which is then stopped first."""

from __future__ import annotations

from collections.abc import Callable

from access_gate import Gate

from apiward.state import StateStore

POLICY = """
defaults:
  bans: {threshold: 3, window: 1m, duration: 10m, exempt_paths: [/health], exempt_clients: [198.51.100.0/24]}
routes:
  - name: api
    match: {path: /}
    upstream: app
    rate_limit: {limits: [{rate: 1/hour}]}
"""


async def test_denials_ban_client(gate: Callable[..., Gate], state: StateStore) -> None:
    g = gate(POLICY, state)
    statuses = [(await g.send(path="/x")).status for _ in range(5)]
    banned = await g.send(path="/x")

    assert statuses == [200, 429, 429, 429, 403]
    assert banned.verdict is not None
    assert banned.verdict.code == "client_banned"
    assert 590 <= int(dict(banned.verdict.headers)["retry-after"]) <= 600
    ban = await state.banned("192.0.2.1")
    assert ban is not None
    assert ban.reason == "3 denials within 60s"


async def test_ban_leaves_others_alone(gate: Callable[..., Gate], state: StateStore) -> None:
    g = gate(POLICY, state)
    for _ in range(4):
        await g.send(path="/x")

    assert (await g.send(path="/x", client="192.0.2.2")).status == 200


async def test_ban_covers_ipv6_64(gate: Callable[..., Gate], state: StateStore) -> None:
    g = gate(POLICY, state)
    for index in range(4):
        await g.send(path="/x", client=f"2001:db8:5:6::{index + 1}")

    rotated = await g.send(path="/x", client="2001:db8:5:6:ffff::1")
    assert rotated.verdict is not None
    assert rotated.verdict.code == "client_banned"


async def test_health_path_exempt(gate: Callable[..., Gate], state: StateStore) -> None:
    g = gate(POLICY, state)
    health = [(await g.send(path="/health")).status for _ in range(6)]
    for _ in range(4):
        await g.send(path="/x")
    after_ban = await g.send(path="/health")

    assert health == [200, 429, 429, 429, 429, 429]
    assert after_ban.status == 429


async def test_exempt_client_never_banned(gate: Callable[..., Gate], state: StateStore) -> None:
    g = gate(POLICY, state)
    for _ in range(6):
        await g.send(path="/x", client="198.51.100.7")

    assert await state.banned("198.51.100.7") is None


async def test_manual_ban_blocks(gate: Callable[..., Gate], state: StateStore) -> None:
    g = gate(POLICY, state)
    await state.ban("192.0.2.50", 60.0, "manual")
    blocked = await g.send(path="/x", client="192.0.2.50")
    await state.unban("192.0.2.50")
    unblocked = await g.send(path="/x", client="192.0.2.50")

    assert blocked.status == 403
    assert unblocked.status == 200


async def test_exempt_path_matches_segments(gate: Callable[..., Gate], state: StateStore) -> None:
    g = gate(POLICY, state)
    for _ in range(4):
        await g.send(path="/x")

    assert (await g.send(path="/health/live")).status != 403
    assert (await g.send(path="/healthcheck-admin")).status == 403


async def test_store_error_denies_or_allows(gate: Callable[..., Gate]) -> None:
    from apiward.state.redis import RedisState

    broken = RedisState("redis://127.0.0.1:1/0", timeout=0.2)
    denying = gate(POLICY, broken)
    allowing = gate(POLICY.replace("bans: {", "bans: {on_store_error: allow, "), broken)
    denied = await denying.send(path="/x")
    allowed = await allowing.send(path="/x")
    await broken.close()

    assert denied.status == 503
    assert denied.verdict is not None
    assert denied.verdict.code == "ban_check_unavailable"
    assert allowed.status == 503
    assert allowed.verdict is not None
    assert allowed.verdict.code == "rate_limit_unavailable"
