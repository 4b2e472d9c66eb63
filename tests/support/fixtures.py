"""pytest fixtures around the harness; import them into a conftest.py to use them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from tests.support.echo import EchoUpstream
from tests.support.gateway import GatewayThread, write_policy


@pytest.fixture
def echo_upstream() -> Iterator[EchoUpstream]:
    with EchoUpstream() as upstream:
        yield upstream


@pytest.fixture
def start_gateway(tmp_path: Path) -> Iterator[Callable[[str], GatewayThread]]:
    """Return a function that writes a policy text to tmp_path and starts a gateway on it."""
    started: list[GatewayThread] = []

    def start(policy_text: str) -> GatewayThread:
        gateway = GatewayThread(write_policy(tmp_path, policy_text)).start()
        started.append(gateway)
        return gateway

    yield start
    for gateway in started:
        gateway.stop()
