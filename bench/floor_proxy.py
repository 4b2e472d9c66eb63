"""A bare uvloop + httptools pass-through: the least CPU an HTTP-aware Python proxy can spend.

Each client connection gets one keep-alive connection to the upstream. httptools finds where
each request and response ends, and the bytes pass through unchanged, with no checks, no
header rewriting and no stages. Run in the same rotation as the gateway, it shows which part
of the gateway's gap to nginx is the cost of Python, uvloop and the sockets on that day.

Usage: python bench/floor_proxy.py PORT UPSTREAM_PORT   (both on 127.0.0.1)
"""

from __future__ import annotations

import asyncio
import sys
from typing import cast

import httptools
import uvloop

LOOPBACK = "127.0.0.1"


class UpstreamSide(asyncio.Protocol):
    """Relays the upstream's bytes to the client and notes where each response ends."""

    def __init__(self, client: ClientSide) -> None:
        self.client = client
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.client.upstream_ready(self)

    def data_received(self, data: bytes) -> None:
        self.client.send(data)
        self.parser.feed_data(data)

    def on_message_complete(self) -> None:
        self.client.response_done()

    def connection_lost(self, exc: Exception | None) -> None:
        self.client.close()


class ClientSide(asyncio.Protocol):
    """Parses the client's requests and forwards each one's bytes upstream."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.upstream: UpstreamSide | None = None
        self.pending: list[bytes] = []
        self.connecting: asyncio.Task[object] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        loop = asyncio.get_running_loop()
        self.connecting = loop.create_task(
            loop.create_connection(lambda: UpstreamSide(self), LOOPBACK, self.upstream_port))

    def upstream_ready(self, upstream: UpstreamSide) -> None:
        self.upstream = upstream
        assert upstream.transport is not None
        for chunk in self.pending:
            upstream.transport.write(chunk)
        self.pending.clear()

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.close()
            return
        if self.upstream is None or self.upstream.transport is None:
            self.pending.append(data)
        else:
            self.upstream.transport.write(data)

    def send(self, data: bytes) -> None:
        if self.transport is not None:
            self.transport.write(data)

    def response_done(self) -> None:
        """Do nothing: the pass-through keeps no state per request."""

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
        if self.upstream is not None and self.upstream.transport is not None:
            self.upstream.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.close()


async def serve(port: int, upstream_port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: ClientSide(upstream_port), LOOPBACK, port, backlog=1024)
    async with server:
        await server.serve_forever()


def main() -> None:
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    port, upstream_port = int(sys.argv[1]), int(sys.argv[2])
    uvloop.run(serve(port, upstream_port))


if __name__ == "__main__":
    main()
