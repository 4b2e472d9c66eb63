"""TLS termination: the server context and the plain-HTTP listener that redirects to HTTPS."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path
from typing import cast

from apiward.gateway.http1 import HEAD_END, HttpError, error_response, parse_request_head, status_line

MAX_REDIRECT_HEAD = 16 * 1024


def server_context(cert: str, key: str, base: Path) -> ssl.SSLContext:
    """Build a server context for TLS 1.2 and later from PEM files (relative to ``base``)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(base / cert, base / key)
    return context


class RedirectConnection(asyncio.Protocol):
    """Answer every plain-HTTP request with 308 to the same target on the HTTPS port."""

    def __init__(self, https_port: int) -> None:
        self.https_port = https_port
        self.transport: asyncio.Transport | None = None
        self.buffer = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        self.buffer += data
        end = self.buffer.find(HEAD_END)
        if end < 0:
            if len(self.buffer) > MAX_REDIRECT_HEAD:
                self._send(error_response(431, "headers_too_large", "The request head is too large.", "-",
                                          close=True))
            return
        try:
            request = parse_request_head(self.buffer[:end + 4])
        except HttpError as error:
            self._send(error_response(error.status, error.code, error.message, "-", close=True))
            return
        host = (request.host or "").rsplit(":", 1)[0] if not (request.host or "").endswith("]") else (
            request.host or "")
        target = request.raw_path + (f"?{request.query}" if request.query else "")
        location = f"https://{host}:{self.https_port}{target}"
        self._send(status_line(308) + f"location: {location}\r\ncontent-length: 0\r\n"
                   "connection: close\r\n\r\n".encode("latin-1"))

    def _send(self, data: bytes) -> None:
        assert self.transport is not None
        self.transport.write(data)
        self.transport.close()
