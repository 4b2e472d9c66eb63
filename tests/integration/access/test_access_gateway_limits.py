"""Rate limits and bans of a real gateway, exercised with raw requests on loopback sockets."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from access_client import burst, fetch
from tests.support.echo import EchoUpstream
from tests.support.gateway import GatewayThread, policy_yaml

LIMITED = "    rate_limit: {limits: [{rate: 3/hour}]}\n"


def start(start_gateway: Callable[[str], GatewayThread], upstream: EchoUpstream, route: str,
          extra: str = "") -> GatewayThread:
    text = policy_yaml(upstream.address, route=route, extra=extra)
    return start_gateway(text.replace("match: {path: /}", 'match: {path: "/users/{user_id}/orders"}'))


def statuses(port: int, requests: list[tuple[str, list[tuple[str, str]]]]) -> list[int]:
    async def run() -> list[int]:
        return [(await fetch(port, path, headers))[0] for path, headers in requests]

    return asyncio.run(run())


def test_spoofed_forwarded_for_ignored(
    echo_upstream: EchoUpstream, start_gateway: Callable[[str], GatewayThread],
) -> None:
    gateway = start(start_gateway, echo_upstream, LIMITED)
    spoofed = [("/users/1/orders", [("X-Forwarded-For", f"203.0.113.{n}")]) for n in range(5)]

    assert statuses(gateway.port, spoofed) == [200, 200, 200, 429, 429]


def test_ipv6_rotation_in_one_64(
    echo_upstream: EchoUpstream, start_gateway: Callable[[str], GatewayThread],
) -> None:
    gateway = start(start_gateway, echo_upstream, LIMITED, extra="trusted_proxies: [127.0.0.1/32]\n")
    rotating = [("/users/1/orders", [("X-Forwarded-For", f"2001:db8:7:7::{n + 1:x}")]) for n in range(4)]
    other_network = [("/users/1/orders", [("X-Forwarded-For", "2001:db8:7:8::1")])]

    assert statuses(gateway.port, rotating) == [200, 200, 200, 429]
    assert statuses(gateway.port, other_network) == [200]


def test_path_and_query_variants_share_bucket(
    echo_upstream: EchoUpstream, start_gateway: Callable[[str], GatewayThread],
) -> None:
    gateway = start(start_gateway, echo_upstream, LIMITED)
    variants = ["/users/1/orders", "/users/2/orders?x=1", "/users/3/orders?x=1&y=2", "/users/4/orders?z"]

    assert statuses(gateway.port, [(path, []) for path in variants]) == [200, 200, 200, 429]


def test_denial_carries_ratelimit_headers(
    echo_upstream: EchoUpstream, start_gateway: Callable[[str], GatewayThread],
) -> None:
    gateway = start(start_gateway, echo_upstream, LIMITED)

    async def run() -> list[tuple[int, dict[str, str]]]:
        return [await fetch(gateway.port, "/users/1/orders") for _ in range(4)]

    answers = asyncio.run(run())
    first_status, first_headers = answers[0]
    last_status, last_headers = answers[3]
    assert first_status == 200
    assert first_headers["ratelimit"].endswith(";r=2;t=1200")
    assert last_status == 429
    assert int(last_headers["retry-after"]) > 1000
    assert last_headers["ratelimit-policy"].endswith(";q=3;w=3600")


def test_concurrent_burst_exact(
    echo_upstream: EchoUpstream, start_gateway: Callable[[str], GatewayThread],
) -> None:
    gateway = start(start_gateway, echo_upstream, "    rate_limit: {limits: [{rate: 100/hour}]}\n")
    results = asyncio.run(burst(gateway.port, 500, "/users/1/orders"))

    assert len(results) == 500
    assert results.count(200) == 100
    assert results.count(429) == 400
    assert echo_upstream.requests == 100


def test_denials_lead_to_ban(
    echo_upstream: EchoUpstream, start_gateway: Callable[[str], GatewayThread],
) -> None:
    route = LIMITED + "    bans: {threshold: 2, window: 1m, duration: 5m, exempt_paths: [/health]}\n"
    gateway = start(start_gateway, echo_upstream, route)
    requests = [("/users/1/orders", [])] * 6

    assert statuses(gateway.port, requests) == [200, 200, 200, 429, 429, 403]
