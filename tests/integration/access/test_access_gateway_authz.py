"""Object binding and consumer quotas through a real gateway, whose router fills path parameters."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable

from access_client import fetch
from tests.support.echo import EchoUpstream
from tests.support.gateway import GatewayThread, policy_yaml


def key_entry(key: str, consumer: str, roles: str = "[]") -> str:
    digest = hashlib.sha256(key.encode()).hexdigest()
    return f"{{sha256: {digest}, consumer: {consumer}, roles: {roles}}}"


ROUTE = f"""    authn:
      api_key:
        keys:
          - {key_entry("alice-key", "alice")}
          - {key_entry("admin-key", "ops", "[admin]")}
    quota: {{limits: [{{rate: 4/hour, key: [consumer]}}]}}
    authz:
      bind: [{{param: user_id, claim: sub, unless_roles: [admin]}}]
"""


def start(echo_upstream: EchoUpstream, start_gateway: Callable[[str], GatewayThread]) -> GatewayThread:
    text = policy_yaml(echo_upstream.address, route=ROUTE, extra="trusted_proxies: [127.0.0.1/32]\n")
    return start_gateway(text.replace("match: {path: /}", 'match: {path: "/users/{user_id}/orders"}'))


def statuses(gateway: GatewayThread, requests: list[tuple[str, str, str]]) -> list[int]:
    async def run() -> list[int]:
        results = []
        for path, key, client in requests:
            headers = [("X-Api-Key", key), ("X-Forwarded-For", client)]
            results.append((await fetch(gateway.port, path, headers))[0])
        return results

    return asyncio.run(run())


def test_object_binding_on_routed_path(
    echo_upstream: EchoUpstream, start_gateway: Callable[[str], GatewayThread],
) -> None:
    gateway = start(echo_upstream, start_gateway)
    requests = [
        ("/users/alice/orders", "alice-key", "192.0.2.1"),
        ("/users/bob/orders", "alice-key", "192.0.2.1"),
        ("/users/al%69ce/orders", "alice-key", "192.0.2.1"),
        ("/users/bob/orders", "admin-key", "192.0.2.1"),
    ]

    assert statuses(gateway, requests) == [200, 403, 200, 200]
    assert echo_upstream.requests == 3


def test_quota_follows_consumer_across_addresses(
    echo_upstream: EchoUpstream, start_gateway: Callable[[str], GatewayThread],
) -> None:
    gateway = start(echo_upstream, start_gateway)
    requests = [("/users/alice/orders", "alice-key", f"198.51.100.{n}") for n in range(1, 7)]

    assert statuses(gateway, requests) == [200, 200, 200, 200, 429, 429]
    assert statuses(gateway, [("/users/bob/orders", "admin-key", "198.51.100.1")]) == [200]
