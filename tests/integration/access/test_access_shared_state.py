"""Exact limits across processes: 4 workers, and 2 gateways, sharing the real Redis."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
from access_client import burst
from tests.support.echo import EchoUpstream
from tests.support.gateway import GatewayProcess, free_port, policy_yaml, write_policy

pytestmark = pytest.mark.redis

LIMIT = "    rate_limit: {limits: [{rate: 100/hour, key: [client]}]}\n"


def shared_policy(upstream: EchoUpstream, port: int, prefix: str) -> str:
    state = f'state: "redis://127.0.0.1:6379/0?key_prefix={prefix}"\n'
    return policy_yaml(upstream.address, port=port, route=LIMIT, extra=state)


def test_four_workers_exact(echo_upstream: EchoUpstream, tmp_path: Path) -> None:
    port = free_port()
    prefix = f"apiward-test-{uuid.uuid4().hex}:"
    policy = write_policy(tmp_path, shared_policy(echo_upstream, port, prefix))
    with GatewayProcess(policy, port, workers=4):
        results = asyncio.run(burst(port, 500))

    assert len(results) == 500
    assert results.count(200) == 100
    assert results.count(429) == 400


def test_two_gateways_exact(echo_upstream: EchoUpstream, tmp_path: Path) -> None:
    prefix = f"apiward-test-{uuid.uuid4().hex}:"
    ports = [free_port(), free_port()]
    paths = [
        write_policy(tmp_path, shared_policy(echo_upstream, port, prefix), f"gateway-{index}.yaml")
        for index, port in enumerate(ports)
    ]

    async def both() -> list[int]:
        halves = await asyncio.gather(burst(ports[0], 250), burst(ports[1], 250))
        return halves[0] + halves[1]

    with GatewayProcess(paths[0], ports[0]), GatewayProcess(paths[1], ports[1]):
        results = asyncio.run(both())

    assert len(results) == 500
    assert results.count(200) == 100
    assert results.count(429) == 400
