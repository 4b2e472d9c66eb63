"""Raw-socket helpers: send exact bytes to a loopback port and read the response."""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass, field
from typing import Any


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes
    raw: bytes
    header_list: list[tuple[str, str]] = field(default_factory=list)

    def json(self) -> Any:
        return json.loads(self.body)


def send_raw(port: int, data: bytes, timeout: float = 5.0) -> bytes:
    """Send ``data`` on a new connection and return everything read until the peer closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        chunks = []
        try:
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
        except (TimeoutError, ConnectionResetError):
            pass
    return b"".join(chunks)


def parse_responses(raw: bytes) -> list[RawResponse]:
    """Split raw bytes into responses framed by Content-Length or chunked encoding."""
    responses = []
    rest = raw
    while rest:
        end = rest.find(b"\r\n\r\n")
        if end < 0:
            break
        head, rest = rest[:end].decode("latin-1"), rest[end + 4:]
        lines = head.split("\r\n")
        status = int(lines[0].split(" ")[1])
        header_list = [(name.strip().lower(), value.strip())
                       for name, _, value in (line.partition(":") for line in lines[1:])]
        headers = dict(header_list)
        if status < 200:
            continue
        if headers.get("transfer-encoding") == "chunked":
            body, rest = _dechunk(rest)
        elif "content-length" in headers:
            length = int(headers["content-length"])
            body, rest = rest[:length], rest[length:]
        else:
            body, rest = rest, b""
        responses.append(RawResponse(status, headers, body, raw, header_list))
    return responses


def _dechunk(data: bytes) -> tuple[bytes, bytes]:
    body = b""
    while True:
        end = data.find(b"\r\n")
        size = int(data[:end], 16)
        data = data[end + 2:]
        if size == 0:
            return body, data[data.find(b"\r\n") + 2:]
        body += data[:size]
        data = data[size + 2:]


def request_raw(port: int, data: bytes, timeout: float = 5.0) -> RawResponse:
    """Send ``data`` and return the first response (the connection is read until it closes)."""
    responses = parse_responses(send_raw(port, data, timeout))
    assert responses, "no response was received"
    return responses[0]
