"""Upstream failures, strict response parsing, balancing, health and retries."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable

import httpx
import pytest
from tests.support.echo import EchoUpstream
from tests.support.gateway import GatewayThread, free_port, policy_yaml

StartGateway = Callable[[str], GatewayThread]


def test_upstream_down_gets_502_json(start_gateway: StartGateway) -> None:
    down = f"127.0.0.1:{free_port()}"
    gateway = start_gateway(policy_yaml(down))
    response = httpx.get(gateway.url + "/")
    assert response.status_code == 502
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["error"] == "upstream_unavailable"
    assert body["request_id"] == response.headers["x-request-id"]
    assert down.split(":")[1] not in response.text
    assert "127.0.0.1" not in response.text


def test_slow_upstream_gets_504(echo_upstream: EchoUpstream, start_gateway: StartGateway) -> None:
    gateway = start_gateway(policy_yaml(echo_upstream.address, upstream_extra="    read_timeout: 300ms\n"))
    response = httpx.get(gateway.url + "/", headers={"x-echo-delay": "2"}, timeout=10)
    assert response.status_code == 504
    assert response.json()["error"] == "upstream_timeout"


MALFORMED = [
    ("bare_lf", b"HTTP/1.1 200 OK\nContent-Length: 6\n\nSECRET"),
    ("obs_fold", b"HTTP/1.1 200 OK\r\nX-A: 1\r\n folded\r\nContent-Length: 6\r\n\r\nSECRET"),
    ("space_before_colon", b"HTTP/1.1 200 OK\r\nContent-Length : 6\r\n\r\nSECRET"),
    ("length_and_chunked",
     b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nSECRET\r\n0\r\n\r\n"),
    ("two_lengths", b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\nContent-Length: 7\r\n\r\nSECRET"),
    ("length_letters", b"HTTP/1.1 200 OK\r\nContent-Length: six\r\n\r\nSECRET"),
    ("chunked_upper", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n6\r\nSECRET\r\n0\r\n\r\n"),
    ("bad_chunk_size", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0x6\r\nSECRET\r\n0\r\n\r\n"),
    ("status_letters", b"HTTP/1.1 2OO OK\r\nContent-Length: 6\r\n\r\nSECRET"),
    ("http2_status_line", b"HTTP/2.0 200 OK\r\nContent-Length: 6\r\n\r\nSECRET"),
    ("control_in_value", b"HTTP/1.1 200 OK\r\nX-A: a\x01b\r\nContent-Length: 6\r\n\r\nSECRET"),
    ("more_than_length", b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nSECRET"),
    ("switching_protocols", b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\nSECRET"),
    ("not_http", b"SECRET\r\n\r\n"),
    ("closed_without_answer", b""),
]


@pytest.mark.parametrize(("name", "raw"), MALFORMED, ids=[case[0] for case in MALFORMED])
def test_malformed_response_gets_502(
    echo_upstream: EchoUpstream, start_gateway: StartGateway, name: str, raw: bytes
) -> None:
    echo_upstream.raw_response = raw
    gateway = start_gateway(policy_yaml(echo_upstream.address, upstream_extra="    retries: 0\n"))
    response = httpx.get(gateway.url + "/")
    assert response.status_code == 502
    assert response.headers["content-type"] == "application/json"
    assert "SECRET" not in response.text
    assert response.json()["error"] in ("bad_upstream_response", "upstream_unavailable")


def test_malformed_table_size() -> None:
    assert len(MALFORMED) == 15


def test_round_robin_spreads_requests(start_gateway: StartGateway) -> None:
    with EchoUpstream() as first, EchoUpstream() as second:
        gateway = start_gateway(policy_yaml([first.address, second.address]))
        with httpx.Client() as client:
            for _ in range(10):
                assert client.get(gateway.url + "/").status_code == 200
        assert first.requests == 5
        assert second.requests == 5


def test_consistent_hash_keeps_client_on_target(start_gateway: StartGateway) -> None:
    with EchoUpstream() as first, EchoUpstream() as second:
        text = policy_yaml([first.address, second.address], upstream_extra="    balance: consistent_hash\n")
        gateway = start_gateway(text)
        with httpx.Client() as client:
            for _ in range(10):
                assert client.get(gateway.url + "/").status_code == 200
        assert sorted([first.requests, second.requests]) == [0, 10]


def test_least_connections_prefers_idle_target(start_gateway: StartGateway) -> None:
    with EchoUpstream() as first, EchoUpstream() as second:
        text = policy_yaml([first.address, second.address], upstream_extra="    balance: least_connections\n")
        gateway = start_gateway(text)
        with httpx.Client() as slow, httpx.Client() as fast:
            delayed = {"x-echo-delay": "1"}
            worker = threading.Thread(target=lambda: slow.get(gateway.url + "/", headers=delayed))
            worker.start()
            time.sleep(0.2)
            busy = first if first.requests else second
            idle = second if busy is first else first
            for _ in range(4):
                assert fast.get(gateway.url + "/").status_code == 200
            worker.join()
        assert idle.requests == 4
        assert busy.requests == 1


def test_get_retried_on_other_target(start_gateway: StartGateway) -> None:
    with EchoUpstream() as alive:
        down = f"127.0.0.1:{free_port()}"
        gateway = start_gateway(policy_yaml([down, alive.address]))
        with httpx.Client() as client:
            statuses = [client.get(gateway.url + "/").status_code for _ in range(6)]
        assert statuses == [200] * 6
        assert alive.requests == 6


def test_post_not_retried(start_gateway: StartGateway) -> None:
    with EchoUpstream() as alive:
        down = f"127.0.0.1:{free_port()}"
        gateway = start_gateway(policy_yaml([down, alive.address]))
        with httpx.Client() as client:
            statuses = [client.post(gateway.url + "/", content=b"x").status_code for _ in range(2)]
        assert sorted(statuses) == [200, 502]


def test_failing_target_ejected(start_gateway: StartGateway) -> None:
    with EchoUpstream() as alive:
        down = f"127.0.0.1:{free_port()}"
        extra = "    retries: 0\n    health: {passive: {max_failures: 2, backoff: 60s}}\n"
        gateway = start_gateway(policy_yaml([down, alive.address], upstream_extra=extra))
        with httpx.Client() as client:
            statuses = [client.get(gateway.url + "/").status_code for _ in range(10)]
        assert statuses.count(502) == 2
        assert alive.requests == 8


def test_active_health_marks_target_down(start_gateway: StartGateway) -> None:
    with EchoUpstream() as healthy, EchoUpstream() as sick:
        sick.raw_response = b"HTTP/1.1 500 Oops\r\ncontent-length: 0\r\n\r\n"
        extra = ("    health:\n      active:\n"
                 "        {path: /health, interval: 100ms, timeout: 1s, unhealthy_after: 1}\n")
        gateway = start_gateway(policy_yaml([healthy.address, sick.address], upstream_extra=extra))
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and sick.requests == 0:
            time.sleep(0.05)
        time.sleep(0.3)
        probes = sick.requests
        with httpx.Client() as client:
            statuses = Counter(client.get(gateway.url + "/").status_code for _ in range(6))
        assert statuses == Counter({200: 6})
        assert probes >= 1
        paths = {record["path"] for record in sick.received}
        assert paths == {"/health"}


def test_ejected_target_retried_after_backoff(start_gateway: StartGateway) -> None:
    port = free_port()
    extra = "    retries: 0\n    health: {passive: {max_failures: 1, backoff: 300ms}}\n"
    gateway = start_gateway(policy_yaml(f"127.0.0.1:{port}", upstream_extra=extra))
    first = httpx.get(gateway.url + "/")
    assert first.status_code == 502
    ejected = httpx.get(gateway.url + "/")
    assert ejected.status_code == 502
    assert ejected.json()["message"] == "No upstream server is available."
    revived = EchoUpstream()
    revived.port = port
    with revived:
        time.sleep(0.4)
        assert httpx.get(gateway.url + "/").status_code == 200
