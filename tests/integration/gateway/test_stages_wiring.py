"""Stages on a route: denials return JSON, become security events and keep response headers."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import httpx
from tests.support.client import parse_responses, send_raw
from tests.support.echo import EchoUpstream
from tests.support.gateway import GatewayThread, policy_yaml

StartGateway = Callable[[str], GatewayThread]


def test_ip_filter_denial_is_json_and_event(
    echo_upstream: EchoUpstream, start_gateway: StartGateway, tmp_path: Path
) -> None:
    security_log = tmp_path / "security.jsonl"
    access_log = tmp_path / "access.jsonl"
    extra = f"logging:\n  access_log: {access_log}\n  security_log: {security_log}\n"
    route = "    ip_filter: {deny: [127.0.0.0/8]}\n    headers: {}\n"
    gateway = start_gateway(policy_yaml(echo_upstream.address, route=route, extra=extra))
    response = httpx.get(gateway.url + "/private")
    assert response.status_code == 403
    assert response.headers["content-type"] == "application/json"
    # The headers stage runs first, so its response hook also dresses the denials after it.
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.json()["request_id"] == response.headers["x-request-id"]
    assert echo_upstream.requests == 0
    gateway.call(_flush(gateway))
    events = [json.loads(line) for line in security_log.read_text().splitlines()]
    assert len(events) == 1
    assert events[0]["stage"] == "ip_filter"
    assert events[0]["request_id"] == response.headers["x-request-id"]
    records = [json.loads(line) for line in access_log.read_text().splitlines()]
    assert records[-1]["status"] == 403


async def _flush(gateway: GatewayThread) -> None:
    gateway.gateway.compiled.flush_logs()


def test_access_record_keeps_raw_path(
    echo_upstream: EchoUpstream, start_gateway: StartGateway, tmp_path: Path
) -> None:
    access_log = tmp_path / "access.jsonl"
    extra = f"logging:\n  access_log: {access_log}\n  security_log: 'off'\n"
    gateway = start_gateway(policy_yaml(echo_upstream.address, route="    headers: {}\n", extra=extra))
    sent = [
        b"GET /api/%2e%2e/admin/./users HTTP/1.1\r\nHost: api.test\r\n\r\n",
        b"GET /plain HTTP/1.1\r\nHost: api.test\r\nConnection: close\r\n\r\n",
    ]
    responses = parse_responses(send_raw(gateway.port, b"".join(sent)))
    assert [response.status for response in responses] == [200, 200]
    gateway.call(_flush(gateway))
    records = [json.loads(line) for line in access_log.read_text().splitlines()]
    assert len(records) == 2
    assert records[0]["path"] == "/admin/users"
    assert records[0]["raw_path"] == "/api/%2e%2e/admin/./users"
    assert records[1]["path"] == "/plain"
    assert "raw_path" not in records[1]


def test_methods_stage_denies_with_allow(echo_upstream: EchoUpstream, start_gateway: StartGateway) -> None:
    route = "    methods: {allow: [GET]}\n    headers: {}\n"
    gateway = start_gateway(policy_yaml(echo_upstream.address, route=route))
    assert httpx.get(gateway.url + "/").status_code == 200
    response = httpx.post(gateway.url + "/", content=b"x")
    assert response.status_code == 405
    assert "GET" in response.headers["allow"]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert echo_upstream.requests == 1


def test_security_headers_on_proxied_response(
    echo_upstream: EchoUpstream, start_gateway: StartGateway
) -> None:
    gateway = start_gateway(policy_yaml(echo_upstream.address, route="    headers: {}\n"))
    response = httpx.get(gateway.url + "/")
    assert response.status_code == 200
    assert response.headers["x-content-type-options"] == "nosniff"


def test_admin_metrics_and_health(echo_upstream: EchoUpstream, start_gateway: StartGateway) -> None:
    from tests.support.gateway import free_port

    admin_port = free_port()
    gateway = start_gateway(policy_yaml(echo_upstream.address, route="    methods: {allow: [GET]}\n",
                                        extra=f"admin: {{address: 127.0.0.1:{admin_port}}}\n"))
    with httpx.Client() as client:
        client.get(gateway.url + "/")
        client.delete(gateway.url + "/")
    health = httpx.get(f"http://127.0.0.1:{admin_port}/healthz")
    assert health.status_code == 200
    assert health.json()["status"] == "ok"
    metrics = httpx.get(f"http://127.0.0.1:{admin_port}/metrics")
    assert metrics.status_code == 200
    assert 'stage="methods"' in metrics.text
    assert "all" in metrics.text
