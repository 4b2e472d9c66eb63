"""The waf stage inside a real gateway: what the client sees and what reaches the upstream."""

from __future__ import annotations

from typing import Any

import httpx
from tests.support.echo import EchoUpstream
from tests.support.gateway import policy_yaml


def test_query_attack_denied_before_upstream(echo_upstream: EchoUpstream, start_gateway: Any) -> None:
    gateway = start_gateway(policy_yaml(echo_upstream.address, route="    waf: {}\n"))
    response = httpx.get(gateway.url + "/items", params={"id": "1' UNION SELECT password FROM users--"})
    assert response.status_code == 403
    body = response.json()
    assert "request_id" in str(body)
    assert "sqli" not in response.text
    assert echo_upstream.requests == 0


def test_json_body_attack_denied(echo_upstream: EchoUpstream, start_gateway: Any) -> None:
    gateway = start_gateway(policy_yaml(echo_upstream.address, route="    waf: {}\n"))
    response = httpx.post(gateway.url + "/comments", json={"post": {"body": "<svg/onload=alert(1)>"}})
    assert response.status_code == 403
    assert echo_upstream.requests == 0


def test_benign_json_reaches_upstream(echo_upstream: EchoUpstream, start_gateway: Any) -> None:
    gateway = start_gateway(policy_yaml(echo_upstream.address, route="    waf: {}\n"))
    response = httpx.post(
        gateway.url + "/customers", json={"name": "Siobhan O'Brien", "note": "select the union plan"}
    )
    assert response.status_code == 200
    assert response.json()["body_len"] > 0
    assert echo_upstream.requests == 1


def test_detect_mode_lets_attack_through(echo_upstream: EchoUpstream, start_gateway: Any) -> None:
    gateway = start_gateway(policy_yaml(echo_upstream.address, route="    waf: {mode: detect}\n"))
    response = httpx.get(gateway.url + "/items", params={"q": "<script>alert(1)</script>"})
    assert response.status_code == 200
    assert echo_upstream.requests == 1


def test_body_over_limit_denied(echo_upstream: EchoUpstream, start_gateway: Any) -> None:
    gateway = start_gateway(policy_yaml(echo_upstream.address, route="    waf: {request_body_limit: 1KiB}\n"))
    response = httpx.post(
        gateway.url + "/upload", content=b"a" * 4096, headers={"content-type": "text/plain"}
    )
    assert response.status_code == 413
    assert echo_upstream.requests == 0
