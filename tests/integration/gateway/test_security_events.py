"""Security events reach the sink once each: denials and detections that were only logged."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import httpx
from tests.support.echo import EchoUpstream
from tests.support.gateway import GatewayThread, policy_yaml

StartGateway = Callable[[str], GatewayThread]
ENUMERATION = "    authz: {require_authentication: false, enumeration: {distinct_ids: 3, window: 60}}\n"


def _gateway(upstream: EchoUpstream, start_gateway: StartGateway, route: str, log_dir: Path) -> GatewayThread:
    extra = f"logging:\n  access_log: 'off'\n  security_log: {log_dir / 'security.jsonl'}\n"
    text = policy_yaml(upstream.address, route=route, extra=extra)
    return start_gateway(text.replace("match: {path: /}", 'match: {path: "/items/{item_id}"}'))


def _events(gateway: GatewayThread, log_dir: Path) -> list[dict[str, object]]:
    async def flush() -> None:
        gateway.gateway.compiled.flush_logs()

    gateway.call(flush())
    path = log_dir / "security.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_logged_enumeration_event_emitted(
    echo_upstream: EchoUpstream, start_gateway: StartGateway, tmp_path: Path
) -> None:
    gateway = _gateway(echo_upstream, start_gateway, ENUMERATION, tmp_path)
    with httpx.Client(base_url=gateway.url) as client:
        for item in range(5):
            response = client.get(f"/items/{item}", headers={"x-echo-status": "404"})
            assert response.status_code == 404
    events = _events(gateway, tmp_path)
    assert len(events) == 1
    assert events[0]["action"] == "logged"
    assert events[0]["stage"] == "authz"
    assert events[0]["code"] == "object_enumeration"
    assert events[0]["path"] == "/items/2"


def test_denial_and_logged_events_once(
    echo_upstream: EchoUpstream, start_gateway: StartGateway, tmp_path: Path
) -> None:
    route = "    ip_filter: {deny: [127.0.0.0/8]}\n" + ENUMERATION
    gateway = _gateway(echo_upstream, start_gateway, route, tmp_path)
    with httpx.Client(base_url=gateway.url) as client:
        for item in range(4):
            assert client.get(f"/items/{item}").status_code == 403
    events = _events(gateway, tmp_path)
    assert [event["action"] for event in events] == ["blocked", "blocked", "blocked", "logged", "blocked"]
    assert [event["stage"] for event in events] == ["ip_filter"] * 3 + ["authz", "ip_filter"]
    assert len({event["request_id"] for event in events}) == 4
    assert echo_upstream.requests == 0
