"""An echo upstream: a raw asyncio HTTP/1.1 server that describes each request it receives."""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
from typing import Any, ClassVar, cast

HEAD_END = b"\r\n\r\n"


class EchoUpstream:
    """Serve on 127.0.0.1 from a background thread; every response is JSON about the request.

    The JSON has ``method``, ``path`` (the target exactly as received), ``version``,
    ``headers`` (a list of ``[name, value]`` as sent), ``body_len``, ``body_sha256``,
    ``connection`` (1 for the first TCP connection accepted, 2 for the next...) and
    ``request`` (the number of the request on that connection).

    Request headers change the response: ``x-echo-status: 201``, ``x-echo-delay: 0.5``
    (seconds, before responding), ``x-echo-chunks: 3`` (send the JSON body chunked in that many
    pieces), ``x-echo-size: 1000000`` (send that many bytes of ``x`` instead of JSON,
    streamed), ``x-echo-close: 1`` (close after responding), ``x-echo-early: 1`` (respond as soon
    as the head is in, then read and drop the body, like a server that rejects a request
    without reading it). Set :attr:`raw_response` to bytes
    to send exactly those bytes for every request and close (a misbehaving upstream).
    """

    def __init__(self) -> None:
        self.port = 0
        self.connections = 0
        self.requests = 0
        self.raw_response: bytes | None = None
        self.received: list[dict[str, Any]] = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="echo-upstream", daemon=True)
        self._server: asyncio.Server | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> EchoUpstream:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._start(), self._loop)
        future.result(timeout=10)
        return self

    async def _start(self) -> None:
        self._server = await self._loop.create_server(lambda: _EchoProtocol(self), "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    def stop(self) -> None:
        async def close() -> None:
            if self._server is not None:
                self._server.close()
                for protocol in list(_EchoProtocol.open_by_owner.get(id(self), ())):
                    protocol.transport.close()

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def __enter__(self) -> EchoUpstream:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class _EchoProtocol(asyncio.Protocol):
    open_by_owner: ClassVar[dict[int, set[_EchoProtocol]]] = {}

    def __init__(self, owner: EchoUpstream) -> None:
        self.owner = owner
        self.transport: asyncio.Transport
        self.buffer = b""
        self.head: dict[str, Any] | None = None
        self.remaining = 0
        self.chunked = False
        self.chunk_state = "size"
        self.body_len = 0
        self.digest = hashlib.sha256()
        self.count = 0
        self.busy = False
        self.answered_early = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.owner.connections += 1
        self.number = self.owner.connections
        self.open_by_owner.setdefault(id(self.owner), set()).add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.open_by_owner.get(id(self.owner), set()).discard(self)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        self._advance()

    def _advance(self) -> None:
        while not self.busy:
            if self.head is None:
                end = self.buffer.find(HEAD_END)
                if end < 0:
                    return
                self._read_head(self.buffer[:end])
                self.buffer = self.buffer[end + 4:]
                if self._wants_early_answer():
                    self.busy = True
                    self.answered_early = True
                    asyncio.get_running_loop().create_task(self._answer())
                    return
            if not self._read_body():
                return
            if self.answered_early:
                self.answered_early = False
                self.head = None
                continue
            self.busy = True
            asyncio.get_running_loop().create_task(self._answer())

    def _read_head(self, head: bytes) -> None:
        lines = head.decode("latin-1").split("\r\n")
        method, path, version = lines[0].split(" ", 2)
        headers = [[name, value.strip()] for name, _, value in (line.partition(":") for line in lines[1:])]
        self.head = {"method": method, "path": path, "version": version, "headers": headers}
        lookup = {name.lower(): value for name, value in headers}
        self.chunked = lookup.get("transfer-encoding", "").lower() == "chunked"
        self.remaining = int(lookup.get("content-length", "0") or 0)
        self.body_len = 0
        self.digest = hashlib.sha256()

    def _wants_early_answer(self) -> bool:
        assert self.head is not None
        return any(name.lower() == "x-echo-early" and value == "1" for name, value in self.head["headers"])

    def _read_body(self) -> bool:
        if not self.chunked:
            take = self.buffer[:self.remaining]
            self.buffer = self.buffer[len(take):]
            self._consume(take)
            self.remaining -= len(take)
            return self.remaining == 0
        while True:
            if self.chunk_state == "data":
                take = self.buffer[:self.remaining]
                self.buffer = self.buffer[len(take):]
                self._consume(take)
                self.remaining -= len(take)
                if self.remaining:
                    return False
                self.chunk_state = "crlf"
            if self.chunk_state == "crlf":
                if len(self.buffer) < 2:
                    return False
                self.buffer = self.buffer[2:]
                self.chunk_state = "size"
            end = self.buffer.find(b"\r\n")
            if end < 0:
                return False
            line = self.buffer[:end]
            self.buffer = self.buffer[end + 2:]
            if self.chunk_state == "trailer":
                if not line:
                    self.chunk_state = "size"
                    return True
                continue
            size = int(line.split(b";")[0], 16)
            if size == 0:
                self.chunk_state = "trailer"
            else:
                self.remaining = size
                self.chunk_state = "data"

    def _consume(self, data: bytes) -> None:
        self.body_len += len(data)
        self.digest.update(data)

    async def _answer(self) -> None:
        head = self.head
        assert head is not None
        self.count += 1
        self.owner.requests += 1
        lookup = {name.lower(): value for name, value in head["headers"]}
        record = dict(head, body_len=self.body_len, body_sha256=self.digest.hexdigest(),
                      connection=self.number, request=self.count)
        self.owner.received.append(record)
        if self.owner.raw_response is not None:
            self.transport.write(self.owner.raw_response)
            self.transport.close()
            return
        if "x-echo-delay" in lookup:
            await asyncio.sleep(float(lookup["x-echo-delay"]))
        status = int(lookup.get("x-echo-status", "200"))
        close = lookup.get("x-echo-close") == "1"
        extra = "connection: close\r\n" if close else ""
        if "x-echo-size" in lookup:
            await self._send_size(status, int(lookup["x-echo-size"]), extra)
        else:
            body = json.dumps(record).encode()
            self._send_json(status, body, int(lookup.get("x-echo-chunks", "0")), extra, head["method"])
        if not self.answered_early:
            self.head = None
        self.busy = False
        if close:
            self.transport.close()
            return
        self._advance()

    def _send_json(self, status: int, body: bytes, chunks: int, extra: str, method: str) -> None:
        if chunks:
            self.transport.write(f"HTTP/1.1 {status} OK\r\ncontent-type: application/json\r\n"
                                 f"transfer-encoding: chunked\r\n{extra}\r\n".encode())
            step = max(1, len(body) // chunks + 1)
            for start in range(0, len(body), step):
                piece = body[start:start + step]
                self.transport.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.transport.write(b"0\r\n\r\n")
            return
        payload = b"" if method == "HEAD" else body
        self.transport.write(f"HTTP/1.1 {status} OK\r\ncontent-type: application/json\r\n"
                             f"content-length: {len(body)}\r\n{extra}\r\n".encode() + payload)

    async def _send_size(self, status: int, size: int, extra: str) -> None:
        self.transport.write(f"HTTP/1.1 {status} OK\r\ncontent-type: application/octet-stream\r\n"
                             f"content-length: {size}\r\n{extra}\r\n".encode())
        block = b"x" * 65536
        sent = 0
        while sent < size:
            piece = block[:min(len(block), size - sent)]
            self.transport.write(piece)
            sent += len(piece)
            if self.transport.get_write_buffer_size() > 1 << 20:
                await asyncio.sleep(0.001)
