"""The rate_limit and quota stages through the pipeline hooks, on memory and Redis state."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from access_gate import Gate

from apiward.gateway.pipeline import Exchange, Headers, Identity
from apiward.policy.loader import PolicyError
from apiward.state import StateStore

ORDERS = """
routes:
  - name: orders
    match: {path: "/users/{user_id}/orders"}
    upstream: app
    rate_limit:
      limits:
        - {rate: 3/hour}
"""


async def test_limit_denies_after_burst(gate: Callable[..., Gate], state: StateStore) -> None:
    g = gate(ORDERS, state)
    statuses = [(await g.send(path=f"/users/{n}/orders")).status for n in range(5)]

    assert statuses == [200, 200, 200, 429, 429]


async def test_denial_has_retry_and_ratelimit_headers(gate: Callable[..., Gate], state: StateStore) -> None:
    g = gate(ORDERS, state)
    first = await g.send()
    for _ in range(2):
        await g.send()
    denied = await g.send()

    assert denied.verdict is not None
    assert denied.verdict.code == "rate_limited"
    headers = dict(denied.verdict.headers)
    assert 1190 <= int(headers["retry-after"]) <= 1200
    assert headers["ratelimit-policy"].endswith(";q=3;w=3600")
    assert ";r=0;t=" in headers["ratelimit"]
    allowed = dict(first.extra_response_headers)
    assert ";r=2;t=" in allowed["ratelimit"]


async def test_remaining_counts_down_in_headers(gate: Callable[..., Gate], state: StateStore) -> None:
    g = gate(ORDERS, state)
    fields = [dict((await g.send()).extra_response_headers)["ratelimit"] for _ in range(3)]

    assert ";r=2;t=" in fields[0]
    assert ";r=1;t=" in fields[1]
    assert ";r=0;t=" in fields[2]


async def test_headers_can_be_hidden(gate: Callable[..., Gate]) -> None:
    g = gate(ORDERS.replace("limits:", "headers: false\n      limits:"))
    first = await g.send()
    for _ in range(3):
        denied = await g.send()

    assert first.extra_response_headers == []
    assert denied.verdict is not None
    assert denied.verdict.headers == []


async def test_path_and_query_variants_share_bucket(gate: Callable[..., Gate], state: StateStore) -> None:
    g = gate(ORDERS, state)
    variants = [("/users/1/orders", ""), ("/users/2/orders", "x=1"), ("/users/3/orders", "x=2&y=3")]
    for path, query in variants:
        assert (await g.send(path=path, query=query)).status == 200

    assert (await g.send(path="/users/4/orders", query="z=9")).status == 429


async def test_ipv6_rotation_in_64_shares_bucket(gate: Callable[..., Gate], state: StateStore) -> None:
    g = gate(ORDERS, state)
    rotating = ["2001:db8:1:2::1", "2001:db8:1:2:ffff::9", "2001:db8:1:2:abcd:1234:5678:9abc"]
    for address in rotating:
        assert (await g.send(client=address)).status == 200

    assert (await g.send(client="2001:db8:1:2::dead")).status == 429
    assert (await g.send(client="2001:db8:1:3::1")).status == 200


async def test_ipv6_prefix_configurable(gate: Callable[..., Gate]) -> None:
    g = gate(ORDERS.replace("limits:", "ipv6_prefix: 128\n      limits:"))
    for index in range(5):
        assert (await g.send(client=f"2001:db8::{index + 1}")).status == 200


async def test_ipv4_mapped_counts_as_ipv4(gate: Callable[..., Gate]) -> None:
    g = gate(ORDERS)
    for _ in range(3):
        await g.send(client="192.0.2.9")

    assert (await g.send(client="::ffff:192.0.2.9")).status == 429


async def test_concurrent_burst_exact(gate: Callable[..., Gate], state: StateStore) -> None:
    g = gate(ORDERS.replace("3/hour", "100/hour"), state)
    exchanges = await asyncio.gather(*(g.send() for _ in range(500)))

    assert sum(exchange.status == 200 for exchange in exchanges) == 100


async def test_several_limits_stop_at_first_denial(gate: Callable[..., Gate]) -> None:
    policy = ORDERS.replace("- {rate: 3/hour}", "- {rate: 2/hour}\n        - {rate: 5/day, key: [client]}")
    g = gate(policy)
    statuses = [(await g.send()).status for _ in range(4)]
    day_limit = g.stage("orders", "rate_limit").limits[1]  # type: ignore[attr-defined]
    store = g.store
    remaining = (await store.rate_check(f"{day_limit.name}|192.0.2.1", day_limit.interval, day_limit.burst))

    assert statuses == [200, 200, 429, 429]
    assert remaining.remaining == 2


async def test_denying_limit_beats_exhausted_limit(gate: Callable[..., Gate], state: StateStore) -> None:
    policy = ORDERS.replace("- {rate: 3/hour}", "- {rate: 3/hour}\n        - {rate: 2/hour, key: [client]}")
    g = gate(policy, state)
    exchanges = [await g.send() for _ in range(3)]
    hour_limit = g.stage("orders", "rate_limit").limits[1]  # type: ignore[attr-defined]
    denied = exchanges[2].verdict

    assert [exchange.status for exchange in exchanges] == [200, 200, 429]
    assert denied is not None
    assert denied.details == {"limit": hour_limit.name}
    assert dict(denied.headers)["ratelimit"].startswith(f'"{hour_limit.name}";r=0;')


@pytest.mark.parametrize(
    ("key", "expected"),
    [("[client, route]", "|192.0.2.1|orders"), ("[client]", "|192.0.2.1"), ("[global]", "|*"),
     ("[route, header:x-tenant]", "|orders|h=a"), ("[header:x-tenant, global, client]", "|h=a|*|192.0.2.1")],
)
def test_bucket_key_format(gate: Callable[..., Gate], key: str, expected: str) -> None:
    g = gate(ORDERS.replace("{rate: 3/hour}", f"{{rate: 3/hour, key: {key}}}"))
    limit = g.stage("orders", "rate_limit").limits[0]  # type: ignore[attr-defined]
    exchange = Exchange(
        request_id="r", method="GET", path="/", query="", headers=Headers([("x-tenant", "a")]),
        client_ip="192.0.2.1", peer_ip="192.0.2.1",
    )

    assert limit.bucket(exchange) == limit.name + expected


async def test_header_key_separates_tenants(gate: Callable[..., Gate]) -> None:
    g = gate(ORDERS.replace("{rate: 3/hour}", "{rate: 1/hour, key: [header:x-tenant]}"))

    assert (await g.send(headers=[("x-tenant", "a")])).status == 200
    assert (await g.send(headers=[("x-tenant", "b")], client="192.0.2.2")).status == 200
    assert (await g.send(headers=[("x-tenant", "a")], client="192.0.2.3")).status == 429


async def test_exempt_clients_not_limited(gate: Callable[..., Gate]) -> None:
    g = gate(ORDERS.replace("limits:", "exempt_clients: [198.51.100.0/24]\n      limits:"))
    statuses = [(await g.send(client="198.51.100.4")).status for _ in range(5)]

    assert statuses == [200] * 5


async def test_store_error_denies_by_default(gate: Callable[..., Gate]) -> None:
    from apiward.state.redis import RedisState

    broken = RedisState("redis://127.0.0.1:1/0", timeout=0.2)
    g = gate(ORDERS, broken)
    exchange = await g.send()
    await broken.close()

    assert exchange.status == 503
    assert exchange.verdict is not None
    assert exchange.verdict.code == "rate_limit_unavailable"
    assert g.stage("orders", "rate_limit").store_errors == 1  # type: ignore[attr-defined]


async def test_store_error_allow_option(gate: Callable[..., Gate]) -> None:
    from apiward.state.redis import RedisState

    broken = RedisState("redis://127.0.0.1:1/0", timeout=0.2)
    g = gate(ORDERS.replace("limits:", "on_store_error: allow\n      limits:"), broken)
    exchange = await g.send()
    await broken.close()

    assert exchange.status == 200


async def test_max_concurrent_per_client(gate: Callable[..., Gate]) -> None:
    g = gate(ORDERS.replace("limits:", "max_concurrent: 1\n      limits:").replace("3/hour", "100/s"))
    stage = g.stage("orders", "rate_limit")
    def exchange() -> Exchange:
        return Exchange(request_id="r", method="GET", path="/", query="", headers=Headers(),
                        client_ip="192.0.2.1", peer_ip="192.0.2.1")

    first, second = exchange(), exchange()
    assert stage.request_head(first) is None
    blocked = stage.request_head(second)
    assert blocked is not None
    assert blocked.code == "too_many_concurrent_requests"
    stage.log(first)
    assert stage.request_head(second) is None


async def test_quota_keys_on_consumer(gate: Callable[..., Gate]) -> None:
    policy = """
routes:
  - name: api
    match: {path: /api/}
    upstream: app
    quota:
      limits: [{rate: 2/day, key: [consumer]}]
"""
    g = gate(policy)
    quota = g.stage("api", "quota")

    def call(consumer: str, client: str) -> int:
        exchange = Exchange(request_id="r", method="GET", path="/api/x", query="", headers=Headers(),
                            client_ip=client, peer_ip=client)
        exchange.identity = Identity(subject=consumer, consumer=consumer)
        verdict = quota.request_head(exchange)
        return 200 if verdict is None else verdict.status  # type: ignore[union-attr]

    assert [call("shop", f"192.0.2.{n}") for n in range(1, 4)] == [200, 200, 429]
    assert call("other", "192.0.2.1") == 200


def test_consumer_key_rejected_before_authn(gate: Callable[..., Gate]) -> None:
    with pytest.raises(PolicyError, match="put consumer limits under quota"):
        gate(ORDERS.replace("{rate: 3/hour}", "{rate: 3/hour, key: [consumer]}"))


@pytest.mark.parametrize(
    ("rate", "message"),
    [("3/fortnight", "invalid rate"), ("0/s", "must be positive"), ("fast", "invalid rate")],
)
def test_invalid_rate_rejected(gate: Callable[..., Gate], rate: str, message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        gate(ORDERS.replace("3/hour", rate))


def test_rate_units_parse() -> None:
    from apiward.policy.stages.rate_limit import parse_rate

    assert parse_rate("10/s") == (10, 1.0)
    assert parse_rate("1000/day") == (1000, 86400.0)
    assert parse_rate("50/10s") == (50, 10.0)
    assert parse_rate("100000/month") == (100000, 2592000.0)
