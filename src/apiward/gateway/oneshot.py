"""Protocols that read one request head, send one response and close: admin and redirect listeners."""

from __future__ import annotations

import asyncio
from typing import cast

from apiward.gateway.http1 import HEAD_END, HttpError, RequestHead, error_response, parse_request_head

MAX_HEAD_BYTES = 16 * 1024
"""Larger request heads get 431 on these listeners, which serve only short requests."""


class OneRequestProtocol(asyncio.Protocol):
    """Read one request head (at most :data:`MAX_HEAD_BYTES`), pass it to :meth:`handle`, then close.

    An invalid or oversized head gets the gateway's JSON error. Subclasses send their response
    with :meth:`send`, which also closes the connection.
    """

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(HEAD_END)
        if end < 0:
            if len(self.buffer) > MAX_HEAD_BYTES:
                self.send(error_response(431, "headers_too_large", "The request head is too large.", "-",
                                         close=True))
            return
        try:
            request = parse_request_head(self.buffer[:end + 4])
        except HttpError as error:
            self.send(error_response(error.status, error.code, error.message, "-", close=True))
            return
        self.handle(request)

    def handle(self, request: RequestHead) -> None:
        """Send the response to ``request`` with :meth:`send`."""
        raise NotImplementedError

    def send(self, data: bytes) -> None:
        assert self.transport is not None
        self.transport.write(data)
        self.transport.close()
