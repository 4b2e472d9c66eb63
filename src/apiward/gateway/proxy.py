"""The exchange flow: route a parsed request, run the stages, forward it, relay the response.

A :class:`Flow` is driven by callbacks from the client connection and from the upstream
connection, so an exchange whose stages are synchronous and whose upstream connection is
idle in the pool runs without creating a task or awaiting anything. A task is created only
to open a new upstream connection or to await an asynchronous stage hook.

Retries go to another target, and only for idempotent methods whose whole request is still
in hand. A retry follows a failed connect, or a reused keep-alive connection that closes
before any response byte arrives, which usually means the upstream closed it while idle.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any

from apiward.gateway import paths
from apiward.gateway.compile import CompiledPolicy, CompiledRoute
from apiward.gateway.http1 import (
    LAST_CHUNK,
    ChunkedDecoder,
    HttpError,
    RequestHead,
    ResponseHead,
    encode_chunk,
    error_response,
    serialize_head,
    status_line_text,
)
from apiward.gateway.pipeline import (
    Exchange,
    Headers,
    Verdict,
    run_body_hooks_sync,
    run_hooks,
    run_hooks_sync,
)
from apiward.gateway.upstream import Target, UpstreamConnection
from apiward.observability.logs import access_record

if TYPE_CHECKING:
    from apiward.gateway.server import ClientConnection

log = logging.getLogger("apiward.gateway.proxy")

MEMO_MAX_ENTRIES = 1024
PATH_CATEGORY = "API8:2023"
"""OWASP category of a rejected path; the 2023 list files injection and traversal under API8."""
HELD_RESPONSE_BYTES = 256 * 1024
"""Response bytes held while asynchronous response-head hooks run, before reading pauses."""
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_NO_BODY, _WAITING, _STREAM, _COLLECT, _DONE = range(5)
_UPSTREAM_ERRORS = {
    "connect": (502, "upstream_unavailable", "The upstream service is unavailable."),
    "closed": (502, "upstream_unavailable", "The upstream service closed the connection."),
    "bad_response": (502, "bad_upstream_response", "The upstream service sent an invalid response."),
    "timeout": (504, "upstream_timeout", "The upstream service did not answer in time."),
}


_normalized_paths: dict[str, tuple[str, bool]] = {}


def normalize_path(raw_path: str) -> tuple[str, bool]:
    """Normalise a path through a bounded memo; invalid paths raise every time (never cached)."""
    found = _normalized_paths.get(raw_path)
    if found is None:
        found = paths.normalize_path(raw_path)
        if len(_normalized_paths) >= MEMO_MAX_ENTRIES:
            _normalized_paths.clear()
        _normalized_paths[raw_path] = found
    return found


class LengthReader:
    """Count a Content-Length body; ``rest`` keeps what follows it (a pipelined request)."""

    __slots__ = ("done", "remaining", "rest", "total")

    def __init__(self, length: int) -> None:
        self.remaining = length
        self.total = length
        self.done = length == 0
        self.rest = b""

    def feed(self, data: bytes) -> list[bytes]:
        remaining = self.remaining
        if len(data) < remaining:
            self.remaining = remaining - len(data)
            return [data]
        self.remaining = 0
        self.done = True
        if len(data) > remaining:
            self.rest = data[remaining:]
            return [data[:remaining]]
        return [data]


class Flow:
    """One request and its response on a client connection."""

    __slots__ = (
        "body", "body_mode", "collected", "collected_size", "compiled", "conn", "exchange", "finished",
        "keep_alive", "out", "pending_head", "pending_limit", "pending_size", "request",
        "response_chunked", "response_head", "response_pending", "response_sent", "response_started",
        "route", "streamed", "tried", "upstream",
    )

    def __init__(self, conn: ClientConnection, request: RequestHead, compiled: CompiledPolicy) -> None:
        self.conn = conn
        self.request = request
        self.compiled = compiled
        self.route: CompiledRoute | None = None
        self.upstream: UpstreamConnection | None = None
        self.body: LengthReader | ChunkedDecoder | None = None
        self.body_mode = _NO_BODY
        self.collected: list[bytes] = []
        self.collected_size = 0
        self.streamed = False
        self.tried: tuple[Target, ...] = ()
        self.response_started = False
        self.response_sent = False
        self.response_chunked = False
        self.response_pending: list[bytes] | None = None
        self.response_head: ResponseHead | None = None
        self.keep_alive = request.keep_alive
        self.finished = False
        self.out: list[bytes] = []
        self.pending_head = b""
        self.pending_size = 0
        self.pending_limit = 0
        self.exchange = Exchange(
            request_id="", method=request.method, path=request.raw_path, query=request.query,
            headers=request.headers, client_ip=conn.peer_ip, peer_ip=conn.peer_ip, scheme=conn.scheme,
            version=request.version,
        )
        compiled.inflight += 1

    # -- request side -------------------------------------------------------------------

    def start(self) -> None:
        """Route the request and run the request-head stages."""
        request = self.request
        exchange = self.exchange
        forwarding = self.compiled.forwarding
        exchange.request_id = forwarding.request_id(self.conn.peer_ip, request.headers)

        if request.chunked:
            self.body = ChunkedDecoder()
        elif request.content_length > 0:
            self.body = LengthReader(request.content_length)
        if self.body is not None:
            # From here on, an early response closes the connection, because the unread body
            # must never be parsed as the next request.
            self.body_mode = _WAITING
        if request.content_length > self.compiled.limits.max_body_bytes:
            self.answer(413, "body_too_large", "The request body is too large.")
            return

        try:
            path, encoded_slash = normalize_path(request.raw_path)
            exchange.path = path
            found = self.compiled.match_route(request.method, path)
        except paths.PathError as error:
            # A path the normaliser rejects is usually a traversal or filter-evasion attempt,
            # so it is a security event like any stage's denial.
            verdict = Verdict(400, error.code, error.message, stage="paths", category=PATH_CATEGORY,
                              attack_class="path-evasion", details={"raw_path": request.raw_path[:256]})
            self._emit(verdict)
            self.answer(400, error.code, error.message)
            return
        if found is None:
            self.answer(404, "route_not_found", "No route matches this request.")
            return
        route, params = found
        if params:
            exchange.path_params = dict(params)
        if encoded_slash and not route.allow_encoded_slashes:
            self.answer(400, "encoded_slash", "An encoded slash (%2F) is not allowed in this path.")
            return

        self.route = route
        exchange.route = route.route
        exchange.client_ip = client_ip = forwarding.client_ip(self.conn.peer_ip, request.headers)
        # Positional arguments: this runs for every request, and keywords cost more to pass.
        forwarding.rewrite(request.headers, self.conn.peer_ip, client_ip, self.conn.scheme,
                           request.host or "", exchange.request_id)

        if route.request_head_async:
            self.spawn(self._run_async(run_hooks(route.request_head, exchange), self._after_request_head))
        else:
            self._after_request_head(run_hooks_sync(route.request_head, exchange))

    def _after_request_head(self, verdict: Verdict | None) -> None:
        if verdict is not None:
            self.deny(verdict)
            return
        route = self.route
        assert route is not None
        exchange = self.exchange
        if self.body is not None and route.body_stages and any(
                stage.wants_request_body(exchange) for stage in route.body_stages):
            self._start_collect()
        else:
            self.dispatch()

    def _start_collect(self) -> None:
        self.body_mode = _COLLECT
        self._continue_body()

    def _continue_body(self) -> None:
        if self.request.expect_continue:
            self.request.expect_continue = False
            self.conn.write(CONTINUE)
        data = self.conn.take_buffer()
        if data:
            self.on_client_data(data)
        else:
            self.conn.set_body_deadline()

    def on_client_data(self, data: bytes) -> None:
        """Take bytes that arrived while this exchange is in progress."""
        mode = self.body_mode
        if mode != _STREAM and mode != _COLLECT:
            self.conn.keep_buffer(data)
            return
        body = self.body
        assert body is not None
        try:
            pieces = body.feed(data)
        except HttpError as error:
            self._fail_body(error.status, error.code, error.message)
            return
        if body.total > self.compiled.limits.max_body_bytes:
            self._fail_body(413, "body_too_large", "The request body is too large.")
            return
        if mode == _STREAM:
            self._forward_body(pieces, body.done)
        else:
            self._collect(pieces)
            if self.finished:
                return
            if self.body_mode != _COLLECT:
                # The body passed uninspected and dispatch took over the rest of it.
                if body.done:
                    self.conn.keep_buffer(body.rest)
                return
        if body.done:
            self.conn.keep_buffer(body.rest)
            self._body_complete()
        elif not self.finished:
            self.conn.set_body_deadline()

    def _forward_body(self, pieces: list[bytes], done: bool) -> None:
        upstream = self.upstream
        if upstream is None:
            return
        self.streamed = True
        data = self._encode_body(pieces, done)
        if self.pending_head:
            # The head and the first body bytes leave in one write (one system call).
            data = self.pending_head + data
            self.pending_head = b""
        upstream.write(data)
        upstream.request_sent = done

    def _encode_body(self, pieces: list[bytes], done: bool) -> bytes:
        if not self.request.chunked:
            return pieces[0] if len(pieces) == 1 else b"".join(pieces)
        out = b"".join(encode_chunk(piece) for piece in pieces if piece)
        return out + LAST_CHUNK if done else out

    def _collect(self, pieces: list[bytes]) -> None:
        route = self.route
        assert route is not None
        for piece in pieces:
            self.collected.append(piece)
            self.collected_size += len(piece)
        limit = max(stage.request_body_limit for stage in route.body_stages)
        if self.collected_size > limit:
            over = [stage for stage in route.body_stages if stage.request_body_limit < self.collected_size]
            if any(stage.body_over_limit == "deny" for stage in over):
                stage = next(stage for stage in over if stage.body_over_limit == "deny")
                self.deny(Verdict(413, "body_too_large", "The request body is too large to be inspected.",
                                  stage=stage.name))
                return
            # Every stage over its limit lets larger bodies pass uninspected: stream from here.
            self.body_mode = _WAITING
            self.dispatch()

    def _body_complete(self) -> None:
        mode = self.body_mode
        self.body_mode = _DONE
        if mode == _STREAM:
            self.conn.set_upstream_deadline(self._read_timeout())
            return
        route = self.route
        assert route is not None
        body = b"".join(self.collected)
        self.collected = [body]
        self.exchange.body = body
        if route.request_body_async:
            self.spawn(self._run_async(run_hooks(route.request_body, self.exchange, body), self._after_body))
        else:
            self._after_body(run_body_hooks_sync(route.request_body, self.exchange, body))

    def _after_body(self, verdict: Verdict | None) -> None:
        if verdict is not None:
            self.deny(verdict)
        else:
            self.dispatch()

    def _fail_body(self, status: int, code: str, message: str) -> None:
        if self.upstream is not None:
            self.route.pool.discard(self.upstream)  # type: ignore[union-attr]
            self.upstream = None
        if self.response_sent:
            self.conn.abort()
            self.finish("error")
        else:
            self.out.clear()
            self.answer(status, code, message)

    # -- upstream -----------------------------------------------------------------------

    def dispatch(self) -> None:
        """Choose a target and send the request on an idle connection or a new one."""
        route = self.route
        assert route is not None
        pool = route.pool
        target = pool.pick(self.exchange.client_ip, self.tried)
        if target is None:
            self.answer(502, "upstream_unavailable", "No upstream server is available.")
            return
        self.tried += (target,)
        upstream = pool.take_idle(target)
        if upstream is not None:
            self._send(upstream)
        else:
            self.conn.clear_deadline()
            self.spawn(self._connect(target))

    async def _connect(self, target: Target) -> None:
        route = self.route
        assert route is not None
        try:
            upstream = await route.pool.connect(target)
        except (OSError, TimeoutError, ssl.SSLError) as error:
            if not self.finished:
                log.warning("request %s: connect to upstream %s target %s failed: %s",
                            self.exchange.request_id, route.pool.name, target.address, type(error).__name__)
                self._upstream_failed(target, "connect", 502, retryable=True)
            return
        if self.finished:
            route.pool.discard(upstream)
            return
        self._send(upstream)

    def _send(self, upstream: UpstreamConnection) -> None:
        request = self.request
        self.upstream = upstream
        upstream.begin(self, request.method == "HEAD")
        target = f"{request.method} {self.exchange.path}?{request.query} HTTP/1.1\r\n" if request.query else (
            f"{request.method} {self.exchange.path} HTTP/1.1\r\n")

        mode = self.body_mode
        if mode == _DONE:
            body = b"".join(self.collected)
            head = serialize_head(target, request.headers, f"content-length: {len(body)}\r\n")
            upstream.write(head + body if body else head)
            upstream.request_sent = True
            self.conn.set_upstream_deadline(self._read_timeout())
            return
        if mode == _NO_BODY:
            framing = "content-length: 0\r\n" if request.content_length == 0 else ""
            upstream.write(serialize_head(target, request.headers, framing))
            upstream.request_sent = True
            self.conn.set_upstream_deadline(self._read_timeout())
            return

        framing = "transfer-encoding: chunked\r\n" if request.chunked else (
            f"content-length: {request.content_length}\r\n")
        body_reader = self.body
        assert body_reader is not None
        # Bytes collected for stages before the body went over their limits go first.
        prefix = self._encode_body(self.collected, body_reader.done) if self.collected else b""
        self.collected = []
        self.streamed = bool(prefix)
        head = serialize_head(target, request.headers, framing) + prefix
        if body_reader.done:
            upstream.write(head)
            upstream.request_sent = True
            self.body_mode = _DONE
            self.conn.set_upstream_deadline(self._read_timeout())
            return

        self.pending_head = head
        self.body_mode = _STREAM
        self._continue_body()
        if self.pending_head and not self.finished:
            # No body bytes were waiting, so the head goes out alone.
            upstream.write(self.pending_head)
            self.pending_head = b""

    def _read_timeout(self) -> float:
        route = self.route
        return route.read_timeout if route is not None else 60.0

    def on_upstream_timeout(self) -> None:
        upstream = self.upstream
        if upstream is None or self.route is None:
            return
        self.upstream = None
        self.route.pool.discard(upstream)
        self._upstream_failed(upstream.target, "timeout", 504, retryable=False)

    def on_upstream_failure(self, kind: str, status: int) -> None:
        upstream = self.upstream
        self.upstream = None
        if upstream is None or self.finished or self.route is None:
            return
        if not upstream.closed:
            self.route.pool.discard(upstream)
        else:
            upstream.target.active -= 1
        retryable = kind == "closed" and upstream.reused and not upstream.received
        self._upstream_failed(upstream.target, kind, status, retryable=retryable)

    def _upstream_failed(self, target: Target, kind: str, status: int, *, retryable: bool) -> None:
        route = self.route
        assert route is not None
        route.pool.report_failure(target, kind)
        self.conn.gateway.metrics.upstream_error(route.pool.name, kind)
        if kind != "connect":
            log.warning("request %s: upstream %s target %s failed: %s", self.exchange.request_id,
                        route.pool.name, target.address, kind)
        if self.response_sent:
            # Part of the response already reached the client: cutting the connection is the
            # only way left to tell it the response is incomplete.
            self.conn.abort()
            self.finish("error")
            return
        # Nothing was written to the client yet, because the head waits in self.out until the
        # end of the upstream read. So the gateway's own 502 replaces the bad response.
        self.out.clear()
        self.response_started = False
        self.response_chunked = False
        can_retry = (
            retryable and self.request.method in IDEMPOTENT and not self.streamed
            and len(self.tried) <= route.pool.config.retries and self.body_mode in (_NO_BODY, _DONE)
        )
        if can_retry:
            log.info("request %s: retrying upstream %s (attempt %d)", self.exchange.request_id,
                     route.pool.name, len(self.tried) + 1)
            self.dispatch()
            return
        status, code, message = _UPSTREAM_ERRORS.get(kind, _UPSTREAM_ERRORS["closed"])
        self.answer(status, code, message)

    def on_upstream_writable(self, writable: bool) -> None:
        self.conn.set_reading(writable)

    # -- response side ------------------------------------------------------------------

    def on_response_head(self, head: ResponseHead) -> None:
        exchange = self.exchange
        exchange.status = head.status
        exchange.response_headers = head.headers
        exchange.upstream_time = time.perf_counter() - exchange.started
        self.response_head = head
        route = self.route
        assert route is not None
        wants_body = bool(route.response_body_stages) and any(
            stage.wants_response_body(exchange) for stage in route.response_body_stages)
        if wants_body or route.response_head_async:
            # On the synchronous path flush_output, which the upstream connection calls after
            # every read, restarts the read deadline instead.
            if self.body_mode != _STREAM:
                self.conn.set_upstream_deadline(route.read_timeout)
            self.response_pending = []
            self.pending_limit = max(stage.response_body_limit for stage in route.response_body_stages) if (
                wants_body) else HELD_RESPONSE_BYTES
            self.spawn(self._inspect_response(wants_body))
            return
        verdict = run_hooks_sync(route.response_head, exchange)
        if verdict is not None:
            self._deny_response(verdict)
            return
        self._start_response(head)

    def _start_response(self, head: ResponseHead) -> None:
        request = self.request
        framing = f"x-request-id: {self.exchange.request_id}\r\n"
        no_body = request.method == "HEAD" or head.status in (204, 304)
        if head.content_length >= 0:
            framing += f"content-length: {head.content_length}\r\n"
        elif not no_body:
            if request.version == "1.1":
                self.response_chunked = True
                framing += "transfer-encoding: chunked\r\n"
            else:
                self.keep_alive = False
        if not self.keep_alive:
            framing += "connection: close\r\n"
        headers = head.headers
        extra = self.exchange.extra_response_headers
        if extra:
            headers.items.extend(extra)
        self.out.append(serialize_head(status_line_text(head.status), headers, framing))
        self.response_started = True

    def on_response_data(self, data: bytes) -> None:
        pending = self.response_pending
        if pending is not None:
            pending.append(data)
            self.pending_size += len(data)
            if self.pending_size > self.pending_limit and self.upstream is not None:
                # Enough is held for the stages: let TCP push back on the upstream.
                self.upstream.pause_reading()
            return
        self.exchange.bytes_out += len(data)
        if data:
            self.out.append(encode_chunk(data) if self.response_chunked else data)

    def on_response_end(self) -> None:
        self.upstream = None
        if self.response_pending is not None:
            self.response_pending.append(b"")
            return
        if self.response_chunked:
            self.out.append(LAST_CHUNK)
        self.flush_output()
        self.finish("allowed")

    def flush_output(self) -> None:
        out = self.out
        if out:
            self.conn.write(out[0] if len(out) == 1 else b"".join(out))
            out.clear()
            self.response_sent = True
        if self.upstream is not None and self.response_started and self.body_mode != _STREAM:
            self.conn.set_upstream_deadline(self._read_timeout())

    async def _inspect_response(self, wants_body: bool) -> None:
        # The response is held while async response hooks or body stages run. Reading from the
        # upstream pauses above pending_limit, and the end of the body is polled every 5 ms.
        route = self.route
        head = self.response_head
        assert route is not None and head is not None
        verdict = await run_hooks(route.response_head, self.exchange)
        if verdict is not None:
            self._deny_response(verdict)
            return

        pending = self.response_pending
        assert pending is not None
        if wants_body:
            while not (pending and pending[-1] == b""):
                if self.pending_size > self.pending_limit:
                    self._deny_response(Verdict(502, "response_too_large",
                                                "The upstream response is too large to be inspected."))
                    return
                await asyncio.sleep(0.005)
            body = b"".join(pending)
            verdict = await run_hooks(route.response_body, self.exchange, body)
            if verdict is not None:
                self._deny_response(verdict)
                return
            pending[:] = [body, b""]

        self.response_pending = None
        if self.upstream is not None:
            self.upstream.resume_reading()
        self._start_response(head)
        ended = bool(pending) and pending[-1] == b""
        for piece in pending:
            if piece:
                self.on_response_data(piece)
        if ended:
            self.on_response_end()
        else:
            self.flush_output()

    def _deny_response(self, verdict: Verdict) -> None:
        if self.upstream is not None and self.route is not None:
            self.route.pool.discard(self.upstream)
            self.upstream = None
        self.response_pending = None
        self._emit(verdict)
        self._answer_verdict(verdict)

    # -- the gateway's own responses and the end of the exchange -------------------------

    def deny(self, verdict: Verdict) -> None:
        """End the exchange with a stage's verdict; the response hooks still see that response."""
        self._emit(verdict)
        exchange = self.exchange
        exchange.status = verdict.status
        exchange.response_headers = Headers(verdict.headers)
        route = self.route
        if route is not None:
            ran = route.stages_up_to(verdict.stage)
            hooks = tuple(hook for hook in route.response_head if hook.stage in ran)
            if any(hook.is_async for hook in hooks):
                answer = lambda _: self._answer_verdict(verdict)  # noqa: E731
                self.spawn(self._run_async(run_hooks(hooks, exchange), answer))
                return
            run_hooks_sync(hooks, exchange)
        self._answer_verdict(verdict)

    def _emit(self, verdict: Verdict) -> None:
        exchange = self.exchange
        exchange.verdict = verdict
        exchange.event(verdict, verdict.stage, "blocked")
        if verdict.details.get("denial", True) is not False:
            self.conn.gateway.metrics.denial(verdict.stage)

    def _answer_verdict(self, verdict: Verdict) -> None:
        exchange = self.exchange
        headers = list(exchange.response_headers or ()) + exchange.extra_response_headers
        outcome = "answered" if verdict.details.get("denial", True) is False else "denied"
        self.answer(verdict.status, verdict.code, verdict.message, headers, close=verdict.close,
                    outcome=outcome)

    def answer(
        self, status: int, code: str, message: str, headers: list[tuple[str, str]] | None = None,
        *, close: bool = False, outcome: str = "error",
    ) -> None:
        """Send the gateway's own JSON response and end the exchange."""
        if self.finished:
            return
        if self.upstream is not None and self.route is not None:
            self.route.pool.discard(self.upstream)
            self.upstream = None
        if self.response_sent:
            # Part of another response already reached the client, so only a cut is left.
            log.warning("request %s ended with %s after its response started", self.exchange.request_id, code)
            self.conn.abort()
            self.finish("error")
            return
        if self.body_mode not in (_NO_BODY, _DONE):
            close = True
        if close:
            self.keep_alive = False
        exchange = self.exchange
        exchange.status = status
        if self.route is None and self.compiled.unrouted_headers is not None:
            headers = self._unrouted_headers(headers)
        response = error_response(status, code, message, exchange.request_id or "-", headers,
                                  close=not self.keep_alive)
        exchange.bytes_out += len(response)
        self.conn.write(response)
        self.response_started = True
        self.response_sent = True
        self.finish(outcome)

    def _unrouted_headers(self, headers: list[tuple[str, str]] | None) -> list[tuple[str, str]]:
        """Add the ``defaults.headers`` security headers to a response that no route's stages saw."""
        stage = self.compiled.unrouted_headers
        assert stage is not None
        exchange = self.exchange
        exchange.response_headers = Headers(headers or ())
        try:
            stage.response_head(exchange)
        except Exception:  # the response still goes out, only without the extra headers
            log.exception("headers stage failed on request %s", exchange.request_id)
        return exchange.response_headers.items

    def finish(self, outcome: str) -> None:
        """Run the log hooks, write the access record and hand the connection back."""
        if self.finished:
            return
        self.finished = True
        exchange = self.exchange
        route = self.route
        if route is not None:
            for hook in route.log_hooks:
                try:
                    hook.call(exchange)
                except Exception:  # a log hook must not break the connection
                    log.exception("log hook of stage %s failed on request %s", hook.stage.name,
                                  exchange.request_id)
        compiled = self.compiled
        # Every event goes to the sink once: those recorded so far now, and those a stage's
        # task records after the exchange as soon as it does (through late_sink).
        emit = compiled.events.emit
        for event in exchange.events:
            emit(event)
        exchange.late_sink = emit
        if compiled.access_enabled:
            compiled.access_log.write(access_record(exchange, outcome))
        gateway = self.conn.gateway
        gateway.metrics.request(route.name if route is not None else "", exchange.status,
                                time.perf_counter() - exchange.started)
        compiled.inflight -= 1
        if compiled.retired and compiled.inflight == 0:
            gateway.retire(compiled)
        self.conn.flow_finished(self.keep_alive and self.body_mode in (_NO_BODY, _DONE))

    def spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        self.conn.gateway.spawn(coroutine)

    async def _run_async(
        self, hooks: Awaitable[Verdict | None], then: Callable[[Verdict | None], None]
    ) -> None:
        verdict = await hooks
        if not self.finished:
            then(verdict)
