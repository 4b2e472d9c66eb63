"""Path bypasses, forwarding headers and CORS through a real gateway and a real upstream."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from tests.support.client import RawResponse, request_raw
from tests.support.echo import EchoUpstream
from tests.support.gateway import GatewayThread, free_port

StartGateway = Callable[[str], GatewayThread]


def _policy(upstream: str, *, trusted: str = "[]", cors: str = "") -> str:
    return (
        f"listen:\n  - address: 127.0.0.1:{free_port()}\n"
        f"trusted_proxies: {trusted}\n"
        f"upstreams:\n  app:\n    targets: [{upstream}]\n"
        "routes:\n"
        "  - name: admin\n    match: {path: /admin}\n    upstream: app\n"
        "    ip_filter: {deny: [127.0.0.0/8]}\n"
        "  - name: reports\n    match: {path: /reports}\n    upstream: app\n"
        "    ip_filter: {deny: [198.51.100.0/24]}\n"
        "  - name: all\n    match: {path: /}\n    upstream: app\n    allow_encoded_slashes: true\n"
        f"    headers: {{{cors}}}\n"
        "logging:\n  access_log: 'off'\n  security_log: 'off'\n"
    )


def _get(gateway: GatewayThread, target: str, headers: str = "", method: str = "GET") -> RawResponse:
    data = f"{method} {target} HTTP/1.1\r\nHost: api.test\r\n{headers}Connection: close\r\n\r\n"
    return request_raw(gateway.port, data.encode("latin-1"))


BYPASS_ATTEMPTS = [
    ("/admin", 403),
    ("//admin", 403),
    ("/ADMIN", 403),
    ("/Admin/users", 403),
    ("/%61dmin", 403),
    ("/admin;jsessionid=1", 403),
    ("/;x/admin", 403),
    ("/api/..;/admin", 403),
    ("/api/%2e%2e/admin", 403),
    ("/api/.%2E/admin/", 403),
    ("/admin%2Fusers", 400),
    ("/api%2F..%2Fadmin", 400),
    ("/..;/admin", 400),
    ("/%2e%2e/admin", 400),
    ("/%252e%252e/admin", 400),
    ("/api\\..\\admin", 400),
    ("/api/%5c../admin", 400),
    ("/admin%00.json", 400),
    ("/%c0%ae%c0%ae/admin", 400),
    ("/%e0%80%afadmin", 400),
]


@pytest.mark.parametrize(("target", "status"), BYPASS_ATTEMPTS)
def test_bypass_never_reaches_admin(
    echo_upstream: EchoUpstream, start_gateway: StartGateway, target: str, status: int
) -> None:
    gateway = start_gateway(_policy(echo_upstream.address))
    response = _get(gateway, target)
    assert response.status == status
    assert echo_upstream.requests == 0


def test_bypass_table_size() -> None:
    assert len(BYPASS_ATTEMPTS) == 20


def test_upstream_gets_normalised_path(echo_upstream: EchoUpstream, start_gateway: StartGateway) -> None:
    gateway = start_gateway(_policy(echo_upstream.address))
    response = _get(gateway, "/api/./v1//%55sers/x/../42?q=%2e%2e")
    assert response.status == 200
    assert response.json()["path"] == "/api/v1/Users/42?q=%2e%2e"


def test_untrusted_forwarding_headers_replaced(
    echo_upstream: EchoUpstream, start_gateway: StartGateway
) -> None:
    gateway = start_gateway(_policy(echo_upstream.address))
    spoofed = "X-Forwarded-For: 198.51.100.7\r\nX-Real-IP: 198.51.100.7\r\nX-Request-Id: mine\r\n"
    response = _get(gateway, "/reports", spoofed)
    assert response.status == 200
    headers = dict(response.json()["headers"])
    assert headers["x-forwarded-for"] == "127.0.0.1"
    assert headers["x-real-ip"] == "127.0.0.1"
    assert headers["forwarded"] == "for=127.0.0.1;host=api.test;proto=http"
    assert headers["x-request-id"] != "mine"
    assert headers["x-request-id"] == response.headers["x-request-id"]


def test_trusted_proxy_client_is_filtered(echo_upstream: EchoUpstream, start_gateway: StartGateway) -> None:
    gateway = start_gateway(_policy(echo_upstream.address, trusted="[127.0.0.1/32]"))
    denied = _get(gateway, "/reports", "X-Forwarded-For: 198.51.100.7\r\nX-Request-Id: edge-42\r\n")
    assert denied.status == 403
    assert denied.json()["error"] == "ip_denied"
    assert denied.headers["x-request-id"] == "edge-42"
    allowed = _get(gateway, "/reports", "X-Forwarded-For: 203.0.113.9\r\n")
    assert allowed.status == 200
    headers = dict(allowed.json()["headers"])
    assert headers["x-forwarded-for"] == "203.0.113.9, 127.0.0.1"
    assert headers["x-real-ip"] == "203.0.113.9"


CORS = "cors: {allow_origins: ['https://app.example.com'], allow_credentials: true}"


def test_cors_preflight_answered_by_gateway(
    echo_upstream: EchoUpstream, start_gateway: StartGateway
) -> None:
    gateway = start_gateway(_policy(echo_upstream.address, cors=CORS))
    preflight = (
        "Origin: https://app.example.com\r\nAccess-Control-Request-Method: PUT\r\n"
        "Access-Control-Request-Headers: content-type\r\n"
    )
    response = _get(gateway, "/items", preflight, method="OPTIONS")
    assert response.status == 204
    assert response.body == b""
    assert response.headers["access-control-allow-origin"] == "https://app.example.com"
    assert response.headers["access-control-allow-credentials"] == "true"
    assert "PUT" in response.headers["access-control-allow-methods"]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert echo_upstream.requests == 0


def test_cors_preflight_from_other_origin(echo_upstream: EchoUpstream, start_gateway: StartGateway) -> None:
    gateway = start_gateway(_policy(echo_upstream.address, cors=CORS))
    preflight = "Origin: https://evil.example\r\nAccess-Control-Request-Method: PUT\r\n"
    response = _get(gateway, "/items", preflight, method="OPTIONS")
    assert response.status == 403
    assert response.json()["error"] == "cors_rejected"
    assert "access-control-allow-origin" not in response.headers
    assert echo_upstream.requests == 0


def test_cors_simple_request(echo_upstream: EchoUpstream, start_gateway: StartGateway) -> None:
    gateway = start_gateway(_policy(echo_upstream.address, cors=CORS))
    allowed = _get(gateway, "/items", "Origin: https://app.example.com\r\n")
    assert allowed.status == 200
    assert allowed.headers["access-control-allow-origin"] == "https://app.example.com"
    assert "Origin" in allowed.headers["vary"]
    other = _get(gateway, "/items", "Origin: https://evil.example\r\n")
    assert other.status == 200
    assert "access-control-allow-origin" not in other.headers
    assert echo_upstream.requests == 2
