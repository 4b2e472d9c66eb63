"""Request bodies that a stage reads: buffered up to its limit, then denied or streamed on."""

from __future__ import annotations

from collections.abc import Callable

import httpx
from tests.support.client import parse_responses, send_raw
from tests.support.echo import EchoUpstream
from tests.support.gateway import GatewayThread, policy_yaml

StartGateway = Callable[[str], GatewayThread]


def test_inspected_body_forwarded_whole(echo_upstream: EchoUpstream, start_gateway: StartGateway) -> None:
    gateway = start_gateway(policy_yaml(echo_upstream.address, route="    waf: {}\n"))
    body = b'{"name": "' + b"a" * 5000 + b'"}'
    response = httpx.post(gateway.url + "/", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 200
    assert response.json()["body_len"] == len(body)
    assert ["content-length", str(len(body))] in response.json()["headers"]


def test_inspected_chunked_body_reframed(echo_upstream: EchoUpstream, start_gateway: StartGateway) -> None:
    gateway = start_gateway(policy_yaml(echo_upstream.address, route="    waf: {}\n"))
    raw = (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n"
           b"Connection: close\r\n\r\n4\r\nabcd\r\n3\r\nefg\r\n0\r\n\r\n")
    response = parse_responses(send_raw(gateway.port, raw))[0]
    assert response.status == 200
    assert response.json()["body_len"] == 7
    assert ["content-length", "7"] in response.json()["headers"]


def test_body_over_stage_limit_denied(echo_upstream: EchoUpstream, start_gateway: StartGateway) -> None:
    gateway = start_gateway(policy_yaml(echo_upstream.address, route="    waf: {request_body_limit: 1KiB}\n"))
    response = httpx.post(gateway.url + "/", content=b"a" * 4096, headers={"content-type": "text/plain"})
    assert response.status_code == 413
    assert response.headers["connection"] == "close"
    assert echo_upstream.requests == 0


def test_body_over_stage_limit_passed(echo_upstream: EchoUpstream, start_gateway: StartGateway) -> None:
    route = "    waf: {request_body_limit: 1KiB, on_limit: pass}\n"
    gateway = start_gateway(policy_yaml(echo_upstream.address, route=route))
    body = b"a" * 300_000
    response = httpx.post(gateway.url + "/", content=body, headers={"content-type": "text/plain"})
    assert response.status_code == 200
    assert response.json()["body_len"] == len(body)


def test_body_over_limit_passed_chunked(echo_upstream: EchoUpstream, start_gateway: StartGateway) -> None:
    route = "    waf: {request_body_limit: 1KiB, on_limit: pass}\n"
    gateway = start_gateway(policy_yaml(echo_upstream.address, route=route))
    pieces = [b"b" * 700] * 10
    response = httpx.post(gateway.url + "/", content=iter(pieces), headers={"content-type": "text/plain"})
    assert response.status_code == 200
    assert response.json()["body_len"] == 7000
    assert ["transfer-encoding", "chunked"] in response.json()["headers"]
