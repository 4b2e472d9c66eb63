"""Upstream connections: keep-alive pools per target, balancing, passive and active health.

One :class:`UpstreamPool` serves one named upstream of the policy. Each target keeps a list
of idle keep-alive connections; a request takes one when it can (no await) and opens a new
connection otherwise. A target is ejected after ``health.passive.max_failures`` consecutive
failures and tried again after ``health.passive.backoff``; active probes (``health.active``)
mark it down and up independently.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import logging
import ssl
import zlib
from collections.abc import Callable
from typing import Protocol, cast

from apiward.gateway.http1 import HEAD_END, ChunkedDecoder, HttpError, ResponseHead, parse_response_head
from apiward.policy.model import Upstream

log = logging.getLogger("apiward.gateway.upstream")

MAX_RESPONSE_HEAD = 64 * 1024


class ResponseHandler(Protocol):
    """Callbacks an upstream connection makes on the exchange that uses it."""

    def on_response_head(self, head: ResponseHead) -> None: ...
    def on_response_data(self, data: bytes) -> None: ...
    def on_response_end(self) -> None: ...
    def on_upstream_failure(self, kind: str, status: int) -> None: ...
    def flush_output(self) -> None: ...
    def on_upstream_writable(self, writable: bool) -> None: ...


class Target:
    """One address of an upstream with its idle connections and health state."""

    __slots__ = ("active", "address", "failures", "healthy", "host", "idle", "port", "probe_state",
                 "retry_at", "weight")

    def __init__(self, host: str, port: int, weight: int) -> None:
        self.host = host
        self.port = port
        self.weight = weight
        self.address = f"{host}:{port}"
        self.idle: list[UpstreamConnection] = []
        self.active = 0
        self.failures = 0
        self.retry_at = 0.0
        self.healthy = True
        self.probe_state = 0


class UpstreamConnection(asyncio.Protocol):
    """One keep-alive connection to a target; parses responses strictly, one at a time."""

    def __init__(self, pool: UpstreamPool, target: Target) -> None:
        self.pool = pool
        self.target = target
        self.transport: asyncio.Transport | None = None
        self.handler: ResponseHandler | None = None
        self.idle_since = 0.0
        self.reused = False
        self.received = False
        self.request_sent = False
        self.closed = False
        self._buffer = b""
        self._head: ResponseHead | None = None
        self._no_body = False
        self._remaining = 0
        self._chunked: ChunkedDecoder | None = None
        self._until_close = False
        self._head_only = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def begin(self, handler: ResponseHandler, head_only: bool) -> None:
        """Attach the exchange whose request is about to be written on this connection."""
        self.handler = handler
        self._head_only = head_only
        self._head = None
        self.received = False
        self.request_sent = False

    def write(self, data: bytes) -> None:
        if self.transport is not None:
            self.transport.write(data)

    def data_received(self, data: bytes) -> None:
        handler = self.handler
        if handler is None:
            # Bytes arrived while no request was in flight, so the connection is out of step
            # with its upstream and must not be reused.
            self.abort()
            return
        self.received = True
        try:
            if self._head is None:
                rest = self._read_head(data, handler)
                if rest is None:
                    return
                data = rest
            if data or self._no_body:
                self._read_body(data, handler)
        except HttpError:
            self.handler = None
            self.abort()
            handler.on_upstream_failure("bad_response", 502)
        handler.flush_output()

    def _read_head(self, data: bytes, handler: ResponseHandler) -> bytes | None:
        """Parse the response head; return the bytes after it, or None until it is complete."""
        buffer = self._buffer + data if self._buffer else data
        end = buffer.find(HEAD_END)
        if end < 0:
            if len(buffer) > MAX_RESPONSE_HEAD or b"\n\n" in buffer:
                raise HttpError(502, "bad_upstream_response", "invalid response head")
            self._buffer = buffer
            return None
        self._buffer = b""
        head = parse_response_head(buffer[:end + 4])
        rest = buffer[end + 4:]
        if head.status < 200:
            if head.status == 101:
                raise HttpError(502, "bad_upstream_response", "protocol switch is not supported")
            return self._read_head(rest, handler) if rest else None
        self._head = head
        self._no_body = self._head_only or head.status in (204, 304)
        self._until_close = False
        self._chunked = None
        if not self._no_body:
            if head.chunked:
                self._chunked = ChunkedDecoder()
            elif head.content_length >= 0:
                self._remaining = head.content_length
                self._no_body = head.content_length == 0
            else:
                self._until_close = True
                head.keep_alive = False
        handler.on_response_head(head)
        return rest

    def _read_body(self, data: bytes, handler: ResponseHandler) -> None:
        if self._no_body:
            if data:
                raise HttpError(502, "bad_upstream_response", "data after a response without body")
            self._finish(handler)
        elif self._chunked is not None:
            for piece in self._chunked.feed(data):
                handler.on_response_data(piece)
            if self._chunked.done:
                if self._chunked.rest:
                    raise HttpError(502, "bad_upstream_response", "data after the response")
                self._finish(handler)
        elif self._until_close:
            handler.on_response_data(data)
        else:
            if len(data) > self._remaining:
                raise HttpError(502, "bad_upstream_response", "more data than Content-Length")
            self._remaining -= len(data)
            handler.on_response_data(data)
            if self._remaining == 0:
                self._finish(handler)

    def _finish(self, handler: ResponseHandler) -> None:
        head = self._head
        self.handler = None
        self._head = None
        # Read before the handler runs: a response that completed while request body bytes were
        # still unsent leaves the upstream expecting them, so the next request on this
        # connection would be read as the rest of that body.
        reusable = head is not None and head.keep_alive and self.request_sent
        handler.on_response_end()
        self.pool.release(self, reusable)

    def pause_writing(self) -> None:
        if self.handler is not None:
            self.handler.on_upstream_writable(False)

    def resume_writing(self) -> None:
        if self.handler is not None:
            self.handler.on_upstream_writable(True)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.pool.forget(self)
        handler = self.handler
        if handler is None:
            return
        self.handler = None
        if self._until_close and self._head is not None:
            handler.on_response_end()
        else:
            handler.on_upstream_failure("closed", 502)
        handler.flush_output()

    def pause_reading(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.resume_reading()

    def abort(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()


class UpstreamPool:
    """The targets of one upstream, how they are chosen, and their idle connections."""

    def __init__(
        self, name: str, config: Upstream, on_event: Callable[[str, str], None] | None = None
    ) -> None:
        self.name = name
        self.config = config
        self.targets = [Target(t.address[0], t.address[1], t.weight) for t in config.targets]
        self._ring = [target for target in self.targets for _ in range(target.weight)]
        self._next = 0
        self._hash_points: list[int] = []
        self._hash_targets: list[Target] = []
        self._build_hash_ring()
        # NOTE: TLS to upstreams (``tls: true``) verifies certificates against the system store;
        # no test covers it yet, because the test upstreams speak plain HTTP.
        self._ssl = ssl.create_default_context() if config.tls else None
        self._on_event = on_event
        self._max_failures = config.health.passive.max_failures
        self._tasks: list[asyncio.Task[None]] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    def _build_hash_ring(self) -> None:
        points = []
        for target in self.targets:
            for replica in range(100 * target.weight):
                points.append((zlib.crc32(f"{target.address}#{replica}".encode()), target))
        points.sort(key=lambda point: point[0])
        self._hash_points = [point for point, _ in points]
        self._hash_targets = [target for _, target in points]

    def _usable(self, target: Target) -> bool:
        if not target.healthy:
            return False
        if target.failures < self._max_failures:
            return True
        return (self._loop or asyncio.get_running_loop()).time() >= target.retry_at

    def pick(self, client_ip: str, tried: tuple[Target, ...] = ()) -> Target | None:
        """Choose a target for a request, skipping ejected targets and those already tried."""
        balance = self.config.balance
        if balance == "round_robin":
            ring = self._ring
            for _ in range(len(ring)):
                target = ring[self._next % len(ring)]
                self._next += 1
                if target in tried:
                    continue
                # The common case, a healthy target without recent failures, skips the call.
                if (target.healthy and target.failures < self._max_failures) or self._usable(target):
                    return target
            return None
        candidates = [t for t in self.targets if t not in tried and self._usable(t)]
        if not candidates:
            return None
        if balance == "least_connections":
            return min(candidates, key=lambda target: target.active / target.weight)
        return self._by_hash(client_ip, candidates)

    def _by_hash(self, client_ip: str, candidates: list[Target]) -> Target:
        start = bisect.bisect(self._hash_points, zlib.crc32(client_ip.encode()))
        count = len(self._hash_targets)
        for offset in range(count):
            target = self._hash_targets[(start + offset) % count]
            if target in candidates:
                return target
        return candidates[0]

    def take_idle(self, target: Target) -> UpstreamConnection | None:
        """Return an idle keep-alive connection to ``target``, or None (never awaits)."""
        idle = target.idle
        while idle:
            connection = idle.pop()
            if connection.closed:
                continue
            connection.reused = True
            target.active += 1
            return connection
        return None

    async def connect(self, target: Target) -> UpstreamConnection:
        """Open a new connection; raise OSError or TimeoutError when it cannot be made."""
        loop = asyncio.get_running_loop()
        self._loop = loop
        target.active += 1
        try:
            async with asyncio.timeout(self.config.connect_timeout):
                _, protocol = await loop.create_connection(
                    lambda: UpstreamConnection(self, target), target.host, target.port,
                    ssl=self._ssl, server_hostname=target.host if self._ssl else None,
                )
        except BaseException:
            target.active -= 1
            raise
        return protocol

    def release(self, connection: UpstreamConnection, reusable: bool) -> None:
        """Return a connection after a complete response; keep it when it may be reused."""
        target = connection.target
        target.active -= 1
        target.failures = 0
        if reusable and not connection.closed and len(target.idle) < self.config.max_idle_connections:
            connection.idle_since = (self._loop or asyncio.get_running_loop()).time()
            target.idle.append(connection)
        else:
            connection.abort()

    def discard(self, connection: UpstreamConnection) -> None:
        """Drop a connection whose exchange failed or ended early."""
        if not connection.closed:
            connection.target.active -= 1
            connection.handler = None
            connection.abort()

    def forget(self, connection: UpstreamConnection) -> None:
        idle = connection.target.idle
        if connection in idle:
            idle.remove(connection)

    def report_failure(self, target: Target, kind: str) -> None:
        """Count a failed attempt; eject the target after too many in a row."""
        passive = self.config.health.passive
        target.failures += 1
        if target.failures >= passive.max_failures:
            target.retry_at = (self._loop or asyncio.get_running_loop()).time() + passive.backoff
            if target.failures == passive.max_failures:
                log.warning("upstream %s target %s ejected after %d failures (last: %s)",
                            self.name, target.address, target.failures, kind)
        if self._on_event is not None:
            self._on_event(self.name, kind)

    def close_idle(self, older_than: float | None = None) -> None:
        """Close idle connections, or only those idle since before ``older_than``."""
        for target in self.targets:
            keep = []
            for connection in target.idle:
                if older_than is None or connection.idle_since < older_than:
                    connection.abort()
                else:
                    keep.append(connection)
            target.idle = keep

    def idle_count(self) -> int:
        return sum(len(target.idle) for target in self.targets)

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        if self.config.health.active is not None:
            for target in self.targets:
                self._tasks.append(asyncio.create_task(
                    self._probe_loop(target), name=f"health {self.name} {target.address}"))

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        self.close_idle()

    async def _probe_loop(self, target: Target) -> None:
        active = self.config.health.active
        assert active is not None
        while True:
            ok = await self._probe(target, active.path, active.timeout, active.healthy_statuses)
            self._record_probe(target, ok, active.healthy_after, active.unhealthy_after)
            await asyncio.sleep(active.interval)

    def _record_probe(self, target: Target, ok: bool, healthy_after: int, unhealthy_after: int) -> None:
        # probe_state counts consecutive results: positive for successes, negative for failures.
        if ok:
            target.probe_state = max(target.probe_state, 0) + 1
            if not target.healthy and target.probe_state >= healthy_after:
                target.healthy = True
                log.info("upstream %s target %s is healthy again", self.name, target.address)
        else:
            target.probe_state = min(target.probe_state, 0) - 1
            if target.healthy and -target.probe_state >= unhealthy_after:
                target.healthy = False
                log.warning("upstream %s target %s failed %d health checks", self.name, target.address,
                            -target.probe_state)

    async def _probe(self, target: Target, path: str, limit: float, statuses: list[int]) -> bool:
        writer: asyncio.StreamWriter | None = None
        try:
            async with asyncio.timeout(limit):
                reader, writer = await asyncio.open_connection(
                    target.host, target.port, ssl=self._ssl,
                    server_hostname=target.host if self._ssl else None)
                writer.write(f"GET {path} HTTP/1.1\r\nhost: {target.address}\r\n"
                             "connection: close\r\nuser-agent: apiward-health\r\n\r\n".encode("latin-1"))
                line = await reader.readline()
        except (OSError, TimeoutError, ssl.SSLError):
            return False
        finally:
            if writer is not None:
                writer.close()
        parts = line.split(b" ", 2)
        return len(parts) >= 2 and parts[1].isdigit() and int(parts[1]) in statuses
