"""Unit tests of the strict HTTP/1.1 framing helpers."""

from __future__ import annotations

import pytest

from apiward.gateway.http1 import (
    ChunkedDecoder,
    HttpError,
    error_response,
    parse_request_head,
    parse_response_head,
)


def _decode_in_pieces(data: bytes, size: int) -> tuple[bytes, ChunkedDecoder]:
    decoder = ChunkedDecoder()
    body = b""
    for start in range(0, len(data), size):
        if decoder.done:
            break
        body += b"".join(decoder.feed(data[start:start + size]))
    return body, decoder


@pytest.mark.parametrize("size", [1, 2, 3, 7, 64])
def test_chunked_decoder_any_split(size: int) -> None:
    data = b"5\r\nhello\r\nA;x=y\r\n0123456789\r\n0\r\nTrailer: 1\r\n\r\nNEXT"
    body, decoder = _decode_in_pieces(data, size)
    assert body == b"hello0123456789"
    assert decoder.done
    assert decoder.total == 15


def test_chunked_decoder_keeps_following_bytes() -> None:
    decoder = ChunkedDecoder()
    pieces = decoder.feed(b"3\r\nabc\r\n0\r\n\r\nGET / HTTP/1.1\r\n")
    assert pieces == [b"abc"]
    assert decoder.rest == b"GET / HTTP/1.1\r\n"


@pytest.mark.parametrize("line", [b"0x5", b"+5", b"-5", b" 5", b"5 ", b"g", b"", b"1" * 17, b"5\t;x"])
def test_chunked_decoder_rejects_size(line: bytes) -> None:
    with pytest.raises(HttpError) as caught:
        ChunkedDecoder().feed(line + b"\r\nhello\r\n0\r\n\r\n")
    assert caught.value.code == "invalid_chunk"


def test_chunked_decoder_rejects_long_size_line() -> None:
    with pytest.raises(HttpError):
        ChunkedDecoder().feed(b"5;" + b"x" * 5000)


def test_request_head_fields() -> None:
    request = parse_request_head(
        b"POST /a/b?q=1 HTTP/1.1\r\nHost: api.test\r\nContent-Length: 12\r\nX-A:  v  \r\n"
        b"Connection: keep-alive, X-Hop\r\nX-Hop: 1\r\n\r\n"
    )
    assert request.method == "POST"
    assert request.raw_path == "/a/b"
    assert request.query == "q=1"
    assert request.content_length == 12
    assert request.keep_alive
    assert list(request.headers) == [("host", "api.test"), ("x-a", "v")]


@pytest.mark.parametrize(("head", "code"), [
    (b"GET / HTTP/1.1\r\nHost: x\r\nX : 1\r\n\r\n", "invalid_header_name"),
    (b"GET / HTTP/1.1\r\nHost: x\r\nX: 1\r\n 2\r\n\r\n", "obs_fold"),
    (b"GET / HTTP/1.1\r\nHost: x\nX: 1\r\n\r\n", "invalid_line_ending"),
    (b"GET / HTTP/1.1\r\nHost: x\r\nX: \x01\r\n\r\n", "invalid_header_value"),
    (b"GET / HTTP/1.1\r\nHost: x\r\nHost: x\r\n\r\n", "invalid_host"),
    (b"GET / HTTP/1.1\r\n\r\n", "missing_host"),
    (b"GET / HTTP/3.0\r\nHost: x\r\n\r\n", "unsupported_version"),
    (b"GET http://y/ HTTP/1.1\r\nHost: x\r\n\r\n", "host_mismatch"),
])
def test_request_head_error_codes(head: bytes, code: str) -> None:
    with pytest.raises(HttpError) as caught:
        parse_request_head(head)
    assert caught.value.code == code


def test_http10_closes_by_default() -> None:
    assert not parse_request_head(b"GET / HTTP/1.0\r\n\r\n").keep_alive
    assert parse_request_head(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").keep_alive


def test_response_head_framing() -> None:
    response = parse_response_head(
        b"HTTP/1.1 201 Created\r\nContent-Length: 5\r\nConnection: close\r\nX-A: 1\r\n\r\n")
    assert response.status == 201
    assert response.content_length == 5
    assert not response.keep_alive
    assert list(response.headers) == [("x-a", "1")]


def test_response_head_rejects_ambiguous_length() -> None:
    with pytest.raises(HttpError) as caught:
        parse_response_head(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n")
    assert caught.value.status == 502


def test_error_response_is_json() -> None:
    raw = error_response(404, "route_not_found", "No route.", "abc")
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 404 Not Found\r\n")
    assert b"content-type: application/json" in head
    assert body == b'{"error":"route_not_found","message":"No route.","request_id":"abc"}'


def test_error_response_204_has_no_body() -> None:
    raw = error_response(204, "cors_preflight", "ok", "abc")
    assert raw.endswith(b"\r\n\r\n")
    assert b"content-length" not in raw


def test_repeated_head_parses_independent_copies() -> None:
    head = b"GET /same HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n\r\n"
    first = parse_request_head(head)
    first.headers.add("x-added", "1")
    second = parse_request_head(head)
    assert list(second.headers) == [("host", "x"), ("x-a", "1")]
    assert second.raw_path == "/same"


def test_repeated_response_parses_independent_copies() -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-A: 1\r\n\r\n"
    first = parse_response_head(head)
    first.headers.items.clear()
    first.keep_alive = False
    second = parse_response_head(head)
    assert list(second.headers) == [("x-a", "1")]
    assert second.keep_alive
    assert second.content_length == 2
