"""The gateway's responses to requests no route takes: security headers, events, byte counts."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from tests.support.client import parse_responses, send_raw
from tests.support.echo import EchoUpstream
from tests.support.gateway import GatewayThread, policy_yaml

StartGateway = Callable[[str], GatewayThread]


def _start(echo_upstream: EchoUpstream, start_gateway: StartGateway, tmp_path: Path) -> GatewayThread:
    logs = (
        f"logging:\n  access_log: {tmp_path / 'access.jsonl'}\n"
        f"  security_log: {tmp_path / 'security.jsonl'}\n"
    )
    defaults = "defaults:\n  headers: {}\n"
    text = policy_yaml(echo_upstream.address, extra=defaults + logs).replace(
        "match: {path: /}", "match: {path: /api}"
    )
    return start_gateway(text)


def _flush(gateway: GatewayThread) -> None:
    async def flush() -> None:
        gateway.gateway.compiled.flush_logs()

    gateway.call(flush())


def _lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_rejected_path_is_event_with_headers(
    echo_upstream: EchoUpstream, start_gateway: StartGateway, tmp_path: Path
) -> None:
    gateway = _start(echo_upstream, start_gateway, tmp_path)
    request = b"GET /api/%2e%2e/%2e%2e/etc/passwd HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
    raw = send_raw(gateway.port, request)
    response = parse_responses(raw)[0]
    assert response.status == 400
    assert response.headers["x-content-type-options"] == "nosniff"
    assert echo_upstream.requests == 0
    _flush(gateway)
    events = _lines(tmp_path / "security.jsonl")
    assert len(events) == 1
    assert events[0]["stage"] == "paths"
    assert events[0]["status"] == 400
    assert events[0]["details"] == {"raw_path": "/api/%2e%2e/%2e%2e/etc/passwd"}
    record = _lines(tmp_path / "access.jsonl")[-1]
    assert record["bytes_out"] == len(raw)


def test_unknown_route_has_security_headers(
    echo_upstream: EchoUpstream, start_gateway: StartGateway, tmp_path: Path
) -> None:
    gateway = _start(echo_upstream, start_gateway, tmp_path)
    raw = send_raw(gateway.port, b"GET /nothing-here HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
    response = parse_responses(raw)[0]
    assert response.status == 404
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"
    _flush(gateway)
    assert not (tmp_path / "security.jsonl").exists() or _lines(tmp_path / "security.jsonl") == []
