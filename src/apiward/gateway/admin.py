"""The admin listener: Prometheus ``/metrics`` and ``/healthz``, apart from client traffic."""

from __future__ import annotations

from typing import TYPE_CHECKING

import orjson

from apiward.gateway.http1 import RequestHead, error_response, status_line
from apiward.gateway.oneshot import OneRequestProtocol

if TYPE_CHECKING:
    from apiward.gateway.runtime import Gateway

class AdminConnection(OneRequestProtocol):
    """Serve one admin request per connection: ``/metrics`` and ``/healthz``."""

    def __init__(self, gateway: Gateway) -> None:
        super().__init__()
        self.gateway = gateway

    def handle(self, request: RequestHead) -> None:
        if request.method not in ("GET", "HEAD"):
            self.send(error_response(405, "method_not_allowed", "Use GET.", "-", close=True))
        elif request.raw_path == "/metrics":
            body, content_type = self.gateway.metrics.render()
            self._ok(body, content_type)
        elif request.raw_path == "/healthz":
            self._ok(orjson.dumps({"status": "ok", "reloads": self.gateway.reloads}), "application/json")
        else:
            self.send(error_response(404, "not_found", "Known paths: /metrics, /healthz.", "-", close=True))

    def _ok(self, body: bytes, content_type: str) -> None:
        head = status_line(200) + (f"content-type: {content_type}\r\ncontent-length: {len(body)}\r\n"
                                   "connection: close\r\n\r\n").encode("latin-1")
        self.send(head + body)
