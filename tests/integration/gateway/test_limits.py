"""Size, time and connection limits on the client side, each with its JSON error response."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

from tests.support.client import parse_responses, send_raw
from tests.support.echo import EchoUpstream
from tests.support.gateway import GatewayThread, policy_yaml

StartGateway = Callable[[str], GatewayThread]


def _limited(upstream: EchoUpstream, limits: str) -> str:
    return policy_yaml(upstream.address, limits=limits)


def test_large_head_gets_431(echo_upstream: EchoUpstream, start_gateway: StartGateway) -> None:
    gateway = start_gateway(_limited(echo_upstream, "  max_header_bytes: 1KiB\n"))
    raw = b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 2000 + b"\r\n\r\n"
    response = parse_responses(send_raw(gateway.port, raw))[0]
    assert response.status == 431
    assert response.json()["error"] == "headers_too_large"


def test_unfinished_large_head_gets_431(echo_upstream: EchoUpstream, start_gateway: StartGateway) -> None:
    gateway = start_gateway(_limited(echo_upstream, "  max_header_bytes: 1KiB\n"))
    raw = b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 5000
    response = parse_responses(send_raw(gateway.port, raw))[0]
    assert response.status == 431


def test_many_headers_get_431(echo_upstream: EchoUpstream, start_gateway: StartGateway) -> None:
    gateway = start_gateway(_limited(echo_upstream, "  max_header_count: 5\n"))
    fields = b"".join(b"X-%d: 1\r\n" % index for index in range(6))
    response = parse_responses(send_raw(gateway.port, b"GET / HTTP/1.1\r\nHost: x\r\n" + fields + b"\r\n"))[0]
    assert response.status == 431
    assert response.json()["error"] == "too_many_headers"


def test_large_declared_body_gets_413(echo_upstream: EchoUpstream, start_gateway: StartGateway) -> None:
    gateway = start_gateway(_limited(echo_upstream, "  max_body_bytes: 1KiB\n"))
    raw = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2000\r\n\r\n" + b"a" * 2000
    response = parse_responses(send_raw(gateway.port, raw))[0]
    assert response.status == 413
    assert response.json()["error"] == "body_too_large"
    assert echo_upstream.requests == 0


def test_large_chunked_body_gets_413(echo_upstream: EchoUpstream, start_gateway: StartGateway) -> None:
    gateway = start_gateway(_limited(echo_upstream, "  max_body_bytes: 1KiB\n"))
    raw = (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
           + b"400\r\n" + b"a" * 1024 + b"\r\n" + b"10\r\n" + b"b" * 16 + b"\r\n0\r\n\r\n")
    response = parse_responses(send_raw(gateway.port, raw))[0]
    assert response.status == 413


def test_slowloris_cut_by_header_timeout(echo_upstream: EchoUpstream, start_gateway: StartGateway) -> None:
    gateway = start_gateway(_limited(echo_upstream, "  header_timeout: 500ms\n"))
    started = time.monotonic()
    received = b""
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=5) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
        sock.settimeout(0.1)
        for index in range(100):
            try:
                sock.sendall(b"X-%d: 1\r\n" % index)
            except OSError:
                break
            try:
                chunk = sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                break
            received += chunk
            if not chunk or b"\r\n\r\n" in received:
                break
    elapsed = time.monotonic() - started
    assert received.startswith(b"HTTP/1.1 408")
    assert b"request_timeout" in received
    assert elapsed < 3


def test_slow_body_gets_408(echo_upstream: EchoUpstream, start_gateway: StartGateway) -> None:
    gateway = start_gateway(_limited(echo_upstream, "  body_timeout: 300ms\n"))
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=5) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nab")
        data = sock.recv(4096)
    assert data.startswith(b"HTTP/1.1 408")


def test_idle_connection_closed(echo_upstream: EchoUpstream, start_gateway: StartGateway) -> None:
    gateway = start_gateway(_limited(echo_upstream, "  idle_timeout: 300ms\n"))
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=5) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        first = sock.recv(65536)
        started = time.monotonic()
        rest = b""
        while chunk := sock.recv(65536):
            rest += chunk
    assert first.startswith(b"HTTP/1.1 200")
    assert rest == b""
    assert time.monotonic() - started < 3


def test_connection_cap_gets_503(echo_upstream: EchoUpstream, start_gateway: StartGateway) -> None:
    gateway = start_gateway(_limited(echo_upstream, "  max_connections: 2\n"))
    held = [socket.create_connection(("127.0.0.1", gateway.port), timeout=5) for _ in range(2)]
    try:
        for sock in held:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            assert sock.recv(65536).startswith(b"HTTP/1.1 200")
        response = parse_responses(send_raw(gateway.port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"))[0]
        assert response.status == 503
        assert response.json()["error"] == "too_many_connections"
    finally:
        for sock in held:
            sock.close()


def test_expect_continue_answered(echo_upstream: EchoUpstream, start_gateway: StartGateway) -> None:
    gateway = start_gateway(policy_yaml(echo_upstream.address))
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=5) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n")
        interim = sock.recv(4096)
        sock.sendall(b"abc")
        final = b""
        while b'"body_len"' not in final:
            final += sock.recv(65536)
    assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
    assert b'"body_len": 3' in final
