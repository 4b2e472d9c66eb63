"""An upstream that responds before it has read the request body must not get its connection reused.

A server such as uvicorn answers 405 without reading the body. When the gateway put that
connection back into the pool while body bytes were still unsent, the next request on it was
read by the upstream as the rest of the old body, and failed.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest
import uvicorn
from fastapi import FastAPI
from tests.support.client import parse_responses, request_raw
from tests.support.echo import EchoUpstream
from tests.support.gateway import GatewayThread, free_port, policy_yaml

StartGateway = Callable[[str], GatewayThread]
BODY_SIZE = 200_000
GET_ITEMS = b"GET /items HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"


def _app() -> FastAPI:
    app = FastAPI()

    @app.get("/items")
    def list_items() -> dict[str, int]:
        return {"items": 0}

    return app


@pytest.fixture
def uvicorn_upstream() -> Iterator[str]:
    port = free_port()
    config = uvicorn.Config(_app(), host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn-upstream", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    yield f"127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def _post_head(path: str, size: int, extra: str = "") -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {size}\r\n{extra}\r\n").encode()


def _early_post(port: int, path: str, extra: str = "") -> int:
    """Send a POST head and part of its body, read the early response, then close."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(_post_head(path, BODY_SIZE, extra) + b"{" + b" " * 99)
        raw = b""
        while b"\r\n\r\n" not in raw:
            chunk = sock.recv(65536)
            if not chunk:
                break
            raw += chunk
    return int(raw.split(b" ", 2)[1])


def test_uvicorn_early_405_then_get(uvicorn_upstream: str, start_gateway: StartGateway) -> None:
    gateway = start_gateway(policy_yaml(uvicorn_upstream))
    for _ in range(3):
        assert _early_post(gateway.port, "/items") == 405
        response = request_raw(gateway.port, GET_ITEMS)
        assert response.status == 200
        assert response.json() == {"items": 0}


def test_uvicorn_whole_body_405_then_get(uvicorn_upstream: str, start_gateway: StartGateway) -> None:
    gateway = start_gateway(policy_yaml(uvicorn_upstream))
    body = b"{" + b" " * (BODY_SIZE - 2) + b"}"
    for _ in range(3):
        response = request_raw(gateway.port, _post_head("/items", BODY_SIZE, "Connection: close\r\n") + body)
        assert response.status == 405
        response = request_raw(gateway.port, GET_ITEMS)
        assert response.status == 200


def test_echo_early_answer_not_reused(echo_upstream: EchoUpstream, start_gateway: StartGateway) -> None:
    gateway = start_gateway(policy_yaml(echo_upstream.address))
    assert _early_post(gateway.port, "/upload", "x-echo-early: 1\r\n") == 200
    response = request_raw(gateway.port, b"GET /after HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert response.status == 200
    record = response.json()
    assert record["path"] == "/after"
    assert record["request"] == 1
    assert echo_upstream.connections == 2


def test_echo_early_answer_then_pipelined(echo_upstream: EchoUpstream, start_gateway: StartGateway) -> None:
    gateway = start_gateway(policy_yaml(echo_upstream.address))
    body = b"a" * 1000
    request = _post_head("/upload", len(body), "x-echo-early: 1\r\n") + body
    raw = b""
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=5) as sock:
        sock.sendall(request + b"GET /next HTTP/1.1\r\nHost: x\r\n\r\n")
        deadline = time.monotonic() + 5
        while raw.count(b"HTTP/1.1 ") < 2 and time.monotonic() < deadline:
            chunk = sock.recv(65536)
            if not chunk:
                break
            raw += chunk
    responses = parse_responses(raw)
    assert [response.status for response in responses] == [200, 200]
    assert responses[1].json()["path"] == "/next"
