"""Strict request framing: each rule is checked with the exact bytes a client would send."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support.client import parse_responses, send_raw
from tests.support.echo import EchoUpstream
from tests.support.gateway import GatewayThread, policy_yaml, write_policy

POST = b"POST / HTTP/1.1\r\nHost: x\r\n"
CHUNKED = POST + b"Transfer-Encoding: chunked\r\n\r\n"

REJECTED: list[tuple[str, bytes, int]] = [
    ("content_length_with_transfer_encoding",
     POST + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    ("two_content_lengths", POST + b"Content-Length: 1\r\nContent-Length: 1\r\n\r\nab", 400),
    ("content_length_list", POST + b"Content-Length: 1, 1\r\n\r\na", 400),
    ("content_length_letters", POST + b"Content-Length: abc\r\n\r\n", 400),
    ("content_length_plus", POST + b"Content-Length: +1\r\n\r\na", 400),
    ("content_length_minus", POST + b"Content-Length: -1\r\n\r\n", 400),
    ("content_length_hex", POST + b"Content-Length: 0x1\r\n\r\na", 400),
    ("content_length_huge", POST + b"Content-Length: 99999999999999999999\r\n\r\n", 400),
    ("transfer_encoding_upper", POST + b"Transfer-Encoding: Chunked\r\n\r\n0\r\n\r\n", 400),
    ("transfer_encoding_tab", POST + b"Transfer-Encoding:\tchunked\r\n\r\n0\r\n\r\n", 400),
    ("transfer_encoding_padded",
     POST + b"Transfer-Encoding: chunked \r\n\r\n0\r\n\r\n", 400),
    ("transfer_encoding_list",
     POST + b"Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 400),
    ("transfer_encoding_twice",
     POST + b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
     400),
    ("transfer_encoding_identity", POST + b"Transfer-Encoding: identity\r\n\r\n", 400),
    ("transfer_encoding_http10", b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    ("obs_fold", b"GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n  continued\r\n\r\n", 400),
    ("obs_fold_tab", b"GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n\tcontinued\r\n\r\n", 400),
    ("space_before_colon", b"GET / HTTP/1.1\r\nHost: x\r\nX-A : 1\r\n\r\n", 400),
    ("space_before_colon_te",
     POST + b"Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n", 400),
    ("bare_lf_everywhere", b"GET / HTTP/1.1\nHost: x\n\n", 400),
    ("bare_lf_request_line", b"GET / HTTP/1.1\nHost: x\r\n\r\n", 400),
    ("bare_lf_header", b"GET / HTTP/1.1\r\nHost: x\nX-A: 1\r\n\r\n", 400),
    ("bare_cr_header", b"GET / HTTP/1.1\r\nHost: x\rX-A: 1\r\n\r\n", 400),
    ("chunk_size_hex_prefix", CHUNKED + b"0x5\r\nhello\r\n0\r\n\r\n",
     400),
    ("chunk_size_plus", CHUNKED + b"+5\r\nhello\r\n0\r\n\r\n", 400),
    ("chunk_size_minus", CHUNKED + b"-5\r\nhello\r\n0\r\n\r\n", 400),
    ("chunk_size_space", CHUNKED + b"5 \r\nhello\r\n0\r\n\r\n", 400),
    ("chunk_size_overflow",
     CHUNKED + b"10000000000000005\r\nhello\r\n0\r\n\r\n", 400),
    ("chunk_data_without_crlf",
     CHUNKED + b"5\r\nhelloX0\r\n\r\n", 400),
    ("chunk_bare_lf", CHUNKED + b"5\nhello\r\n0\r\n\r\n", 400),
    ("target_control_character", b"GET /a\x01b HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    ("target_delete_character", b"GET /a\x7fb HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    ("target_with_space", b"GET /a b HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    ("target_non_ascii", b"GET /caf\xc3\xa9 HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    ("header_value_nul", b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n", 400),
    ("header_value_escape", b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x1bb\r\n\r\n", 400),
    ("header_value_delete", b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x7fb\r\n\r\n", 400),
    ("header_name_parenthesis", b"GET / HTTP/1.1\r\nHost: x\r\nX(A): 1\r\n\r\n", 400),
    ("header_name_non_ascii", b"GET / HTTP/1.1\r\nHost: x\r\nX\xe9: 1\r\n\r\n", 400),
    ("header_without_colon", b"GET / HTTP/1.1\r\nHost: x\r\nX-A 1\r\n\r\n", 400),
    ("header_name_empty", b"GET / HTTP/1.1\r\nHost: x\r\n: 1\r\n\r\n", 400),
    ("absolute_form_other_authority", b"GET http://evil.test/ HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    ("absolute_form_userinfo", b"GET http://a@x/ HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    ("authority_form", b"CONNECT x:443 HTTP/1.1\r\nHost: x:443\r\n\r\n", 400),
    ("two_hosts", b"GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", 400),
    ("missing_host", b"GET / HTTP/1.1\r\nX-A: 1\r\n\r\n", 400),
    ("empty_host", b"GET / HTTP/1.1\r\nHost: \r\n\r\n", 400),
    ("host_with_slash", b"GET / HTTP/1.1\r\nHost: x/y\r\n\r\n", 400),
    ("http09", b"GET /\r\n\r\n", 400),
    ("http20", b"GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505),
    ("http12", b"GET / HTTP/1.2\r\nHost: x\r\n\r\n", 505),
    ("lowercase_version", b"GET / http/1.1\r\nHost: x\r\n\r\n", 400),
    ("two_spaces_in_request_line", b"GET  / HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    ("expect_unknown", b"GET / HTTP/1.1\r\nHost: x\r\nExpect: magic\r\n\r\n", 417),
]

ACCEPTED: list[tuple[str, bytes, str]] = [
    ("absolute_form_same_authority", b"GET http://X/abs?q=1 HTTP/1.1\r\nHost: x\r\n\r\n", "/abs?q=1"),
    ("http10_without_host", b"GET /old HTTP/1.0\r\n\r\n", "/old"),
    ("tab_in_header_value", b"GET /tab HTTP/1.1\r\nHost: x\r\nX-A: a\tb\r\n\r\n", "/tab"),
    ("leading_empty_line", b"\r\nGET /blank HTTP/1.1\r\nHost: x\r\n\r\n", "/blank"),
    ("chunk_extension", b"POST /ext HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                        b"5;name=value\r\nhello\r\n0\r\n\r\n", "/ext"),
]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[EchoUpstream, GatewayThread]]:
    directory: Path = tmp_path_factory.mktemp("framing")
    with EchoUpstream() as upstream:
        text = policy_yaml(upstream.address, limits="  header_timeout: 2s\n")
        with GatewayThread(write_policy(directory, text)) as gateway:
            yield upstream, gateway


@pytest.mark.parametrize(("name", "raw", "status"), REJECTED, ids=[case[0] for case in REJECTED])
def test_framing_violation_rejected(
    served: tuple[EchoUpstream, GatewayThread], name: str, raw: bytes, status: int
) -> None:
    upstream, gateway = served
    before = upstream.requests
    responses = parse_responses(send_raw(gateway.port, raw, timeout=3))
    assert len(responses) == 1
    response = responses[0]
    assert response.status == status
    assert response.headers["content-type"] == "application/json"
    assert response.headers["connection"] == "close"
    assert response.json()["error"]
    assert response.json()["request_id"]
    assert upstream.requests == before


@pytest.mark.parametrize(("name", "raw", "path"), ACCEPTED, ids=[case[0] for case in ACCEPTED])
def test_framing_edge_accepted(
    served: tuple[EchoUpstream, GatewayThread], name: str, raw: bytes, path: str
) -> None:
    _, gateway = served
    if b"HTTP/1.1" in raw:
        raw = raw.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n", 1)
    response = parse_responses(send_raw(gateway.port, raw, timeout=3))[0]
    assert response.status == 200
    assert response.json()["path"] == path
    assert response.json()["version"] == "HTTP/1.1"


def test_framing_table_sizes() -> None:
    assert len(REJECTED) == 54
    assert len(ACCEPTED) == 5


def test_upstream_gets_canonical_head(served: tuple[EchoUpstream, GatewayThread]) -> None:
    _, gateway = served
    raw = b"GET /canon HTTP/1.1\r\nhOsT: x\r\nX-Mixed-Case:   padded value  \r\nConnection: close\r\n\r\n"
    response = parse_responses(send_raw(gateway.port, raw))[0]
    headers = response.json()["headers"]
    assert ["x-mixed-case", "padded value"] in headers
    assert ["host", "x"] in headers
