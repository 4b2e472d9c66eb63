"""The per-client connection limit: 503 ``too_many_connections`` past it, counted per address."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from tests.support.client import parse_responses
from tests.support.echo import EchoUpstream
from tests.support.gateway import GatewayThread, policy_yaml

from apiward.gateway.server import client_key

StartGateway = Callable[[str], GatewayThread]
GET = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"


def _gateway(upstream: EchoUpstream, start_gateway: StartGateway, per_client: int) -> GatewayThread:
    limits = f"  max_connections_per_client: {per_client}\n"
    return start_gateway(policy_yaml(upstream.address, limits=limits))


@contextmanager
def _connections(port: int, count: int, source: str = "127.0.0.1") -> Iterator[list[socket.socket]]:
    opened = []
    try:
        for _ in range(count):
            sock = socket.create_connection(("127.0.0.1", port), timeout=5, source_address=(source, 0))
            opened.append(sock)
            sock.sendall(GET)
            assert sock.recv(65536).startswith(b"HTTP/1.1 200")
        yield opened
    finally:
        for sock in opened:
            sock.close()


def _extra_connection(port: int, source: str = "127.0.0.1") -> bytes:
    """Connect and read what the gateway sends at once; a request sent now could cause a reset."""
    with socket.create_connection(("127.0.0.1", port), timeout=5, source_address=(source, 0)) as sock:
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_client_over_limit_gets_503(echo_upstream: EchoUpstream, start_gateway: StartGateway) -> None:
    gateway = _gateway(echo_upstream, start_gateway, 2)
    with _connections(gateway.port, 2):
        response = parse_responses(_extra_connection(gateway.port))[0]
        assert response.status == 503
        assert response.json()["error"] == "too_many_connections"
        assert response.headers["connection"] == "close"
    assert echo_upstream.requests == 2


def test_closed_connection_frees_slot(echo_upstream: EchoUpstream, start_gateway: StartGateway) -> None:
    gateway = _gateway(echo_upstream, start_gateway, 1)
    with _connections(gateway.port, 1):
        assert parse_responses(_extra_connection(gateway.port))[0].status == 503
    # The gateway registers the close a moment later, so wait until its count drops.
    deadline = time.monotonic() + 5
    while gateway.gateway.client_connections and time.monotonic() < deadline:
        time.sleep(0.01)
    with _connections(gateway.port, 1) as opened:
        assert len(opened) == 1


def test_other_client_not_limited(echo_upstream: EchoUpstream, start_gateway: StartGateway) -> None:
    gateway = _gateway(echo_upstream, start_gateway, 1)
    with _connections(gateway.port, 1, "127.0.0.1"), _connections(gateway.port, 1, "127.0.0.2") as other:
        assert len(other) == 1
        assert parse_responses(_extra_connection(gateway.port, "127.0.0.2"))[0].status == 503
    assert gateway.gateway.compiled.limits.max_connections_per_client == 1


@pytest.mark.parametrize(("peer", "key"), [
    ("192.0.2.7", "192.0.2.7"),
    ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
    ("2001:db8:1:2:bbbb::9", "2001:db8:1:2::/64"),
    ("2001:db8:1:3::1", "2001:db8:1:3::/64"),
    ("::ffff:192.0.2.7", "192.0.2.7"),
    ("fe80::1%eth0", "fe80::/64"),
])
def test_client_key_groups_ipv6_by_64(peer: str, key: str) -> None:
    assert client_key(peer) == key
