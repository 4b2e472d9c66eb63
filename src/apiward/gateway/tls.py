"""TLS termination: the server context and the plain-HTTP listener that redirects to HTTPS."""

from __future__ import annotations

import ssl
from pathlib import Path

from apiward.gateway.http1 import RequestHead, status_line
from apiward.gateway.oneshot import OneRequestProtocol


def server_context(cert: str, key: str, base: Path) -> ssl.SSLContext:
    """Build a server context for TLS 1.2 and later from PEM files (relative to ``base``)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(base / cert, base / key)
    return context


class RedirectConnection(OneRequestProtocol):
    """Redirect every plain-HTTP request with 308 to the same target on the HTTPS port."""

    def __init__(self, https_port: int) -> None:
        super().__init__()
        self.https_port = https_port

    def handle(self, request: RequestHead) -> None:
        host = (request.host or "").rsplit(":", 1)[0] if not (request.host or "").endswith("]") else (
            request.host or "")
        target = request.raw_path + (f"?{request.query}" if request.query else "")
        location = f"https://{host}:{self.https_port}{target}"
        self.send(status_line(308) + f"location: {location}\r\ncontent-length: 0\r\n"
                  "connection: close\r\n\r\n".encode("latin-1"))
