"""Client connections: accept, read heads under limits and timeouts, hand each request to a Flow.

Time limits are deadlines stored on each connection and checked by one sweeper task every
:data:`SWEEP_INTERVAL` seconds, so the hot path pays for a clock read instead of a timer per
request. A limit therefore fires up to that much later than configured.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import time
from typing import TYPE_CHECKING, cast

from apiward.gateway.http1 import (
    HEAD_END,
    HttpError,
    RequestHead,
    cached_request_head,
    check_partial_head,
    error_response,
    parse_request_head,
)
from apiward.gateway.pipeline import Headers
from apiward.gateway.proxy import Flow

if TYPE_CHECKING:
    from apiward.gateway.runtime import Gateway

log = logging.getLogger("apiward.gateway.server")

SWEEP_INTERVAL = 0.1
READ_HIGH_WATER = 256 * 1024
"""Buffered client bytes above which the connection stops reading until the flow catches up."""

_NO_DEADLINE, _IDLE, _HEADER, _BODY, _UPSTREAM = range(5)


def client_key(peer_ip: str) -> str:
    """Return the key that connections of one client share: the IPv4 address or the IPv6 /64."""
    if ":" not in peer_ip:
        return peer_ip
    try:
        address = ipaddress.IPv6Address(peer_ip.partition("%")[0])
    except ValueError:
        return peer_ip
    if address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    # A host is usually assigned a whole /64, so counting single IPv6 addresses would not limit it.
    return str(ipaddress.IPv6Network((address, 64), strict=False).network_address) + "/64"


class ClientConnection(asyncio.Protocol):
    """One downstream connection; requests on it are served one after another (pipelining)."""

    def __init__(self, gateway: Gateway, scheme: str) -> None:
        self.gateway = gateway
        self.scheme = scheme
        self.transport: asyncio.Transport | None = None
        self.peer_ip = ""
        self.client_key = ""
        self.buffer = b""
        self.flow: Flow | None = None
        self.deadline = 0.0
        self.deadline_kind = _NO_DEADLINE
        self.closed = False
        self.peer_done = False
        self._reading_paused = False
        self._buffer_paused = False
        self._in_read = False
        self._loop = gateway.loop

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        self.peer_ip = peer[0] if isinstance(peer, tuple) else "127.0.0.1"
        self.client_key = client_key(self.peer_ip)
        rejection = self.gateway.open_connection(self)
        if rejection is not None:
            self.transport.write(error_response(503, "too_many_connections", rejection, "-", close=True))
            self.close()
            return
        self._set(_IDLE, self.gateway.compiled.limits.idle_timeout)

    def data_received(self, data: bytes) -> None:
        flow = self.flow
        if flow is not None:
            flow.on_client_data(data)
            return
        if not self.buffer:
            self.buffer = data
        else:
            self.buffer += data
        self._read_head()

    def _read_head(self) -> None:
        buffer = self.buffer
        while buffer.startswith(b"\r\n"):
            # RFC 9112, section 2.2: a server should ignore empty lines before a request line.
            buffer = buffer[2:]
        limits = self.gateway.compiled.limits
        if buffer.endswith(HEAD_END) and len(buffer) <= limits.max_header_bytes:
            # Most reads hold one head that a client sent before, and then neither the search
            # for its end nor the count of its lines is needed.
            request = cached_request_head(buffer)
            if request is not None and request.field_count <= limits.max_header_count:
                self.buffer = b""
                self._start_flow(request)
                return
        end = buffer.find(HEAD_END)
        try:
            if end < 0:
                self.buffer = buffer
                if self.deadline_kind != _HEADER:
                    # The head timer starts with its first bytes; a head that arrives whole in
                    # one read never needs it.
                    self._set(_HEADER, limits.header_timeout)
                if len(buffer) > limits.max_header_bytes:
                    raise HttpError(431, "headers_too_large", "The request head is too large.")
                check_partial_head(buffer)
                return
            if end + 4 > limits.max_header_bytes:
                raise HttpError(431, "headers_too_large", "The request head is too large.")
            # Most reads contain exactly one head, which then needs no copy.
            head = buffer if end + 4 == len(buffer) else buffer[:end + 4]
            # Every field line takes at least 4 bytes ("a:" and CRLF), so a short head cannot
            # hold too many fields and skips the count.
            if len(head) > 4 * limits.max_header_count and head.count(b"\r\n") - 2 > limits.max_header_count:
                raise HttpError(431, "too_many_headers", "The request has too many header fields.")
            request = parse_request_head(head)
        except HttpError as error:
            self.reject(error)
            return
        self.buffer = b"" if head is buffer else buffer[end + 4:]
        self._start_flow(request)

    def _start_flow(self, request: RequestHead) -> None:
        self.deadline_kind = _NO_DEADLINE
        flow = Flow(self, request, self.gateway.compiled)
        self.flow = flow
        self._in_read = True
        try:
            flow.start()
        except Exception:  # the gateway's error boundary: respond 500 without details
            log.exception("request %s failed inside the gateway", flow.exchange.request_id)
            flow.answer(500, "internal_error", "The gateway failed to handle the request.", close=True)
        finally:
            self._in_read = False

    def reject(self, error: HttpError) -> None:
        """Respond to a request that could not be parsed, then close the connection."""
        compiled = self.gateway.compiled
        request_id = compiled.forwarding.request_id(self.peer_ip, Headers())
        self.write(error_response(error.status, error.code, error.message, request_id, close=True))
        compiled.access_log.write({
            "type": "access", "request_id": request_id, "client": self.peer_ip, "status": error.status,
            "verdict": "rejected", "error": error.code,
        })
        self.gateway.metrics.request("", error.status, 0.0)
        self.close()

    # -- used by Flow ---------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.closed:
            self.transport.write(data)

    def keep_buffer(self, data: bytes) -> None:
        """Hold bytes read ahead of the current exchange (its body or the next request)."""
        if not data:
            return
        self.buffer = self.buffer + data if self.buffer else data
        if self._buffer_paused or self.transport is None:
            return
        if len(self.buffer) > READ_HIGH_WATER or (
                self.buffer.count(HEAD_END) >= self.gateway.compiled.limits.max_pipelined):
            self._buffer_paused = True
            self.transport.pause_reading()

    def take_buffer(self) -> bytes:
        data = self.buffer
        self.buffer = b""
        if self._buffer_paused:
            self._buffer_paused = False
            if not self._reading_paused and self.transport is not None and not self.closed:
                self.transport.resume_reading()
        return data

    def set_reading(self, enabled: bool) -> None:
        """Pause or resume reading from the client while the upstream cannot take more."""
        if self.transport is None or self.closed:
            return
        self._reading_paused = not enabled
        if enabled and not self._buffer_paused:
            self.transport.resume_reading()
        elif not enabled:
            self.transport.pause_reading()

    def set_body_deadline(self) -> None:
        self.deadline_kind = _BODY
        self.deadline = self._loop.time() + self.gateway.compiled.limits.body_timeout

    def set_upstream_deadline(self, seconds: float) -> None:
        self.deadline_kind = _UPSTREAM
        self.deadline = self._loop.time() + seconds

    def clear_deadline(self) -> None:
        self.deadline_kind = _NO_DEADLINE

    def _set(self, kind: int, seconds: float) -> None:
        self.deadline_kind = kind
        self.deadline = self._loop.time() + seconds

    def now(self) -> float:
        return time.perf_counter()

    def flow_finished(self, keep_alive: bool) -> None:
        """Continue with the next request on this connection, or close it."""
        self.flow = None
        if self.closed:
            return
        if not keep_alive or self.peer_done:
            self.close()
            return
        paused = self._reading_paused or self._buffer_paused
        self._reading_paused = False
        self._buffer_paused = False
        if paused and self.transport is not None:
            self.transport.resume_reading()
        if self.buffer:
            self._set(_HEADER, self.gateway.compiled.limits.header_timeout)
            if self._in_read:
                # Serve the next pipelined request from the loop, so a long pipeline of requests
                # that the gateway rejects at once cannot grow the stack.
                self._loop.call_soon(self._resume_pipeline)
            else:
                self._read_head()
        else:
            self._set(_IDLE, self.gateway.compiled.limits.idle_timeout)

    def _resume_pipeline(self) -> None:
        if not self.closed and self.flow is None and self.buffer:
            self._read_head()

    # -- limits and teardown ------------------------------------------------------------

    def on_deadline(self) -> None:
        """Act on an expired deadline; called by the gateway's sweeper."""
        kind = self.deadline_kind
        self.deadline_kind = _NO_DEADLINE
        flow = self.flow
        if kind == _IDLE:
            self.close()
        elif kind == _HEADER:
            if flow is None:
                self.reject(HttpError(408, "request_timeout", "The request head was not received in time."))
        elif kind == _BODY:
            if flow is not None:
                flow.answer(408, "request_timeout", "The request body was not received in time.", close=True)
        elif kind == _UPSTREAM and flow is not None:
            flow.on_upstream_timeout()

    def eof_received(self) -> bool | None:
        """Keep a half-closed plain connection open until the response to its request is sent."""
        self.peer_done = True
        # Returning True keeps the write side open; TLS transports ignore it, so close them.
        return True if self.flow is not None and self.scheme == "http" else None

    def pause_writing(self) -> None:
        flow = self.flow
        if flow is not None and flow.upstream is not None:
            flow.upstream.pause_reading()

    def resume_writing(self) -> None:
        flow = self.flow
        if flow is not None and flow.upstream is not None:
            flow.upstream.resume_reading()

    def close(self) -> None:
        if self.transport is not None and not self.closed:
            self.closed = True
            self.transport.close()

    def abort(self) -> None:
        if self.transport is not None:
            self.closed = True
            self.transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.gateway.close_connection(self)
        flow = self.flow
        if flow is not None and not flow.finished:
            if flow.upstream is not None and flow.route is not None:
                flow.route.pool.discard(flow.upstream)
                flow.upstream = None
            flow.keep_alive = False
            if not flow.exchange.status:
                flow.exchange.status = 499
            flow.finish("aborted")
