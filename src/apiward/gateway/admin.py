"""The admin listener: Prometheus ``/metrics`` and ``/healthz``, apart from client traffic."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, cast

import orjson

from apiward.gateway.http1 import HEAD_END, HttpError, error_response, parse_request_head, status_line

if TYPE_CHECKING:
    from apiward.gateway.runtime import Gateway

MAX_ADMIN_HEAD = 16 * 1024


class AdminConnection(asyncio.Protocol):
    """Serve one admin request per connection."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.transport: asyncio.Transport | None = None
        self.buffer = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(HEAD_END)
        if end < 0:
            if len(self.buffer) > MAX_ADMIN_HEAD:
                self._send(error_response(431, "headers_too_large", "The request head is too large.", "-",
                                          close=True))
            return
        try:
            request = parse_request_head(self.buffer[:end + 4])
        except HttpError as error:
            self._send(error_response(error.status, error.code, error.message, "-", close=True))
            return
        if request.method not in ("GET", "HEAD"):
            self._send(error_response(405, "method_not_allowed", "Use GET.", "-", close=True))
        elif request.raw_path == "/metrics":
            body, content_type = self.gateway.metrics.render()
            self._ok(body, content_type)
        elif request.raw_path == "/healthz":
            self._ok(orjson.dumps({"status": "ok", "reloads": self.gateway.reloads}), "application/json")
        else:
            self._send(error_response(404, "not_found", "Known paths: /metrics, /healthz.", "-", close=True))

    def _ok(self, body: bytes, content_type: str) -> None:
        head = status_line(200) + (f"content-type: {content_type}\r\ncontent-length: {len(body)}\r\n"
                                   "connection: close\r\n\r\n").encode("latin-1")
        self._send(head + body)

    def _send(self, data: bytes) -> None:
        assert self.transport is not None
        self.transport.write(data)
        self.transport.close()
