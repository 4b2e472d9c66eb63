"""Forwarding through a real gateway to the echo upstream over real sockets."""

from __future__ import annotations

import socket
from collections.abc import Callable

import httpx
from tests.support.client import parse_responses, send_raw
from tests.support.echo import EchoUpstream
from tests.support.gateway import GatewayThread, policy_yaml

StartGateway = Callable[[str], GatewayThread]


def test_get_reaches_upstream_with_normalised_path(echo_upstream: EchoUpstream,
                                                   start_gateway: StartGateway) -> None:
    gateway = start_gateway(policy_yaml(echo_upstream.address))
    response = httpx.get(gateway.url + "/a/./b/../c?x=1&y=%41")
    assert response.status_code == 200
    received = response.json()
    assert received["path"] == "/a/c?x=1&y=%41"
    assert received["version"] == "HTTP/1.1"
    assert response.headers["x-request-id"]
    names = [name for name, _ in received["headers"]]
    assert "x-request-id" in names


def test_upstream_connection_reused(echo_upstream: EchoUpstream, start_gateway: StartGateway) -> None:
    gateway = start_gateway(policy_yaml(echo_upstream.address))
    with httpx.Client() as client:
        answers = [client.get(gateway.url + f"/item/{index}").json() for index in range(20)]
    assert {answer["connection"] for answer in answers} == {1}
    assert answers[-1]["request"] == 20
    assert echo_upstream.connections == 1


def test_hop_by_hop_headers_removed(echo_upstream: EchoUpstream, start_gateway: StartGateway) -> None:
    gateway = start_gateway(policy_yaml(echo_upstream.address))
    response = httpx.get(gateway.url + "/", headers={
        "Connection": "keep-alive, X-Secret-Hop", "X-Secret-Hop": "1", "Keep-Alive": "timeout=5",
        "TE": "trailers", "Proxy-Authorization": "Basic abc", "Upgrade": "websocket",
        "Proxy-Connection": "keep-alive", "X-Kept": "yes",
    })
    names = {name.lower() for name, _ in response.json()["headers"]}
    for hop in ("connection", "x-secret-hop", "keep-alive", "te", "proxy-authorization", "upgrade",
                "proxy-connection"):
        assert hop not in names
    assert "x-kept" in names


def test_client_request_id_replaced(echo_upstream: EchoUpstream, start_gateway: StartGateway) -> None:
    gateway = start_gateway(policy_yaml(echo_upstream.address))
    response = httpx.get(gateway.url + "/", headers={"X-Request-Id": "forged", "X-Forwarded-For": "6.6.6.6"})
    received = dict((name.lower(), value) for name, value in response.json()["headers"])
    assert received["x-request-id"] == response.headers["x-request-id"]
    assert received["x-request-id"] != "forged"
    assert "6.6.6.6" not in received.get("x-forwarded-for", "")


def test_post_body_forwarded(echo_upstream: EchoUpstream, start_gateway: StartGateway) -> None:
    gateway = start_gateway(policy_yaml(echo_upstream.address))
    body = b'{"name": "' + b"a" * 1000 + b'"}'
    response = httpx.post(gateway.url + "/orders", content=body, headers={"content-type": "application/json"})
    assert response.json()["body_len"] == len(body)
    assert response.json()["method"] == "POST"


def test_chunked_request_rechunked(echo_upstream: EchoUpstream, start_gateway: StartGateway) -> None:
    gateway = start_gateway(policy_yaml(echo_upstream.address))
    raw = (b"POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
           b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\n")
    response = parse_responses(send_raw(gateway.port, raw))[0]
    assert response.status == 200
    assert response.json()["body_len"] == 11
    assert ["transfer-encoding", "chunked"] in response.json()["headers"]


def test_chunked_response_relayed(echo_upstream: EchoUpstream, start_gateway: StartGateway) -> None:
    gateway = start_gateway(policy_yaml(echo_upstream.address))
    response = httpx.get(gateway.url + "/", headers={"x-echo-chunks": "4"})
    assert response.status_code == 200
    assert response.headers["transfer-encoding"] == "chunked"
    assert response.json()["method"] == "GET"


def test_pipelined_requests_answered_in_order(echo_upstream: EchoUpstream,
                                              start_gateway: StartGateway) -> None:
    gateway = start_gateway(policy_yaml(echo_upstream.address))
    raw = b"".join(f"GET /p{index} HTTP/1.1\r\nHost: x\r\n\r\n".encode() for index in range(5))
    raw += b"GET /last HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    responses = parse_responses(send_raw(gateway.port, raw))
    assert [response.json()["path"] for response in responses] == [f"/p{i}" for i in range(5)] + ["/last"]


def test_unknown_route_gets_404_json(echo_upstream: EchoUpstream, start_gateway: StartGateway) -> None:
    text = policy_yaml(echo_upstream.address).replace("match: {path: /}", "match: {path: /api/}")
    gateway = start_gateway(text)
    response = httpx.get(gateway.url + "/other")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["error"] == "route_not_found"
    assert body["request_id"] == response.headers["x-request-id"]
    assert echo_upstream.requests == 0


def test_encoded_slash_rejected_by_default(echo_upstream: EchoUpstream, start_gateway: StartGateway) -> None:
    gateway = start_gateway(policy_yaml(echo_upstream.address))
    response = httpx.get(gateway.url + "/files/a%2Fb")
    assert response.status_code == 400
    assert echo_upstream.requests == 0


def test_encoded_slash_allowed_on_route(echo_upstream: EchoUpstream, start_gateway: StartGateway) -> None:
    gateway = start_gateway(policy_yaml(echo_upstream.address, route="    allow_encoded_slashes: true\n"))
    response = httpx.get(gateway.url + "/files/a%2Fb")
    assert response.status_code == 200
    assert response.json()["path"] == "/files/a%2Fb"


def test_head_request_has_no_body(echo_upstream: EchoUpstream, start_gateway: StartGateway) -> None:
    gateway = start_gateway(policy_yaml(echo_upstream.address))
    raw = b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\nGET /after HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    data = send_raw(gateway.port, raw)
    assert data.startswith(b"HTTP/1.1 200")
    second = data.find(b"HTTP/1.1 200", 10)
    assert second > 0
    assert data[:second].endswith(b"\r\n\r\n")
    assert b'"/after"' in data[second:]


def test_pipeline_limit_still_answers_all(echo_upstream: EchoUpstream, start_gateway: StartGateway) -> None:
    gateway = start_gateway(policy_yaml(echo_upstream.address, limits="  max_pipelined: 2\n"))
    raw = b"".join(f"GET /q{index} HTTP/1.1\r\nHost: x\r\n\r\n".encode() for index in range(9))
    raw += b"GET /end HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    responses = parse_responses(send_raw(gateway.port, raw))
    assert [response.json()["path"] for response in responses] == [f"/q{i}" for i in range(9)] + ["/end"]


def test_half_closed_client_gets_response(echo_upstream: EchoUpstream, start_gateway: StartGateway) -> None:
    gateway = start_gateway(policy_yaml(echo_upstream.address))
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=5) as sock:
        sock.sendall(b"GET /half HTTP/1.1\r\nHost: x\r\nx-echo-delay: 0.1\r\n\r\n")
        sock.shutdown(socket.SHUT_WR)
        raw = b""
        while chunk := sock.recv(65536):
            raw += chunk
    responses = parse_responses(raw)
    assert len(responses) == 1
    assert responses[0].json()["path"] == "/half"
