"""The state back ends: GCRA buckets, sliding windows and bans, in memory and in Redis."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from apiward.policy.loader import parse_policy
from apiward.state import StateStore, check_workers, open_state
from apiward.state.redis import RedisState, split_key_prefix


async def test_rate_burst_then_deny(state: StateStore) -> None:
    decisions = [await state.rate_check("k", 3600.0, 5) for _ in range(7)]

    assert [decision.allowed for decision in decisions] == [True] * 5 + [False] * 2
    assert [decision.remaining for decision in decisions[:5]] == [4, 3, 2, 1, 0]
    assert 3590 < decisions[5].retry_after <= 3600
    assert decisions[6].reset > 5 * 3600 - 10


async def test_rate_keys_are_separate(state: StateStore) -> None:
    assert (await state.rate_check("a", 3600.0, 1)).allowed
    assert (await state.rate_check("b", 3600.0, 1)).allowed
    assert not (await state.rate_check("a", 3600.0, 1)).allowed


async def test_rate_refills_after_interval(state: StateStore) -> None:
    assert (await state.rate_check("fast", 0.05, 1)).allowed
    assert not (await state.rate_check("fast", 0.05, 1)).allowed
    await asyncio.sleep(0.06)
    assert (await state.rate_check("fast", 0.05, 1)).allowed


async def test_rate_concurrent_exact(state: StateStore) -> None:
    results = await asyncio.gather(*(state.rate_check("burst", 3600.0, 100) for _ in range(500)))

    assert sum(result.allowed for result in results) == 100


async def test_window_counts_distinct(state: StateStore) -> None:
    counts = [await state.window_add("w", member, 60.0, 1000) for member in ("1", "2", "2", "3")]

    assert counts == [1, 2, 2, 3]


async def test_window_cap_keeps_recent(state: StateStore) -> None:
    counts = [await state.window_add("capped", str(index), 60.0, 3) for index in range(6)]

    assert counts == [1, 2, 3, 3, 3, 3]


async def test_window_drops_expired(state: StateStore) -> None:
    await state.window_add("short", "a", 0.05, 100)
    await asyncio.sleep(0.07)

    assert await state.window_add("short", "b", 0.05, 100) == 1


async def test_ban_add_list_remove(state: StateStore) -> None:
    await state.ban("192.0.2.7", 60.0, "denials")
    await state.ban("2001:db8::/64", 120.0, "manual")

    ban = await state.banned("192.0.2.7")
    assert ban is not None
    assert ban.reason == "denials"
    assert [ban.client for ban in await state.list_bans()] == ["192.0.2.7", "2001:db8::/64"]
    assert await state.unban("192.0.2.7")
    assert not await state.unban("192.0.2.7")
    assert await state.banned("192.0.2.7") is None


async def test_ban_expires(state: StateStore) -> None:
    await state.ban("192.0.2.8", 0.05, "short")
    await asyncio.sleep(0.08)

    assert await state.banned("192.0.2.8") is None
    assert await state.list_bans() == []


def test_open_state_rejects_unknown() -> None:
    with pytest.raises(ValueError, match="expected 'memory' or a redis:// URL"):
        open_state("memcached://127.0.0.1")


POLICY = """
listen: [{address: "127.0.0.1:8080"}]
upstreams: {app: {targets: ["127.0.0.1:9"]}}
routes:
  - {name: a, match: {path: /a}, upstream: app, rate_limit: {limits: [{rate: 1/s}]}}
  - {name: b, match: {path: /b}, upstream: app}
"""


def test_memory_with_workers_rejected() -> None:
    with pytest.raises(ValueError, match="keeps rate_limit counters per process, so 4 workers"):
        check_workers(parse_policy(POLICY), 4)


def test_memory_with_workers_allowed_cases() -> None:
    check_workers(parse_policy(POLICY), 1)
    check_workers(parse_policy(POLICY + 'state: "redis://127.0.0.1:6379/0"\n'), 4)
    stateless = POLICY.replace(", rate_limit: {limits: [{rate: 1/s}]}", "")
    check_workers(parse_policy(stateless), 4)


def test_key_prefix_split() -> None:
    assert split_key_prefix("redis://127.0.0.1:6379/0?key_prefix=t1:&db=0") == (
        "redis://127.0.0.1:6379/0?db=0", "t1:",
    )
    assert split_key_prefix("redis://127.0.0.1:6379/0")[1] == "apiward:"


async def test_redis_keys_hash_tagged() -> None:
    store = RedisState("redis://127.0.0.1:6379/0?key_prefix=apiward-test-tag:")
    assert store._key("rl", "client:192.0.2.1") == "apiward-test-tag:{rl:client:192.0.2.1}"
    await store.close()


async def test_redis_down_raises_state_error() -> None:
    from apiward.state import StateError

    store = RedisState("redis://127.0.0.1:1/0", timeout=0.2)
    with pytest.raises(StateError, match="rate check on redis failed"):
        await store.rate_check("k", 1.0, 1)
    await store.close()


async def test_stage_close_releases_redis(tmp_path: Path) -> None:
    from access_gate import redis_url

    from apiward.gateway.pipeline import StageContext
    from apiward.gateway.stages import build_stage

    policy = parse_policy(POLICY + f'state: "{redis_url()}"\n')
    route = policy.routes[0]
    services: dict[str, Any] = {}
    context = StageContext(policy=policy, route=route, policy_dir=tmp_path, services=services)
    stage = build_stage("rate_limit", policy.stage_config(route, "rate_limit"), context)
    opened = services["state"]

    assert isinstance(opened, RedisState)
    await stage.close()
    assert "state" not in services
    await stage.close()


def test_memory_state_survives_recompile(tmp_path: Path) -> None:
    from apiward.gateway.pipeline import StageContext
    from apiward.gateway.stages.access_support import state_for

    policy = parse_policy(POLICY)
    first = state_for(StageContext(policy=policy, route=None, policy_dir=tmp_path))
    second = state_for(StageContext(policy=policy, route=None, policy_dir=tmp_path))
    other = state_for(StageContext(policy=policy, route=None, policy_dir=tmp_path / "other"))

    assert first is second
    assert other is not first
