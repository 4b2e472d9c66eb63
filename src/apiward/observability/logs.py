"""Access-log and event writers for the hot path, and structlog set-up for everything else.

A per-request line through a general logging stack costs more than the gateway's whole budget
for a request. Access records and security events are therefore plain dicts encoded with orjson
and buffered by :class:`JsonLineWriter`, which writes them in batches from a timer on the event
loop.
Start-up, reload, error and other low-volume messages go through the standard ``logging``
module, rendered as JSON by structlog after :func:`configure_logging`.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from typing import IO, TYPE_CHECKING, Any

import orjson
import structlog

if TYPE_CHECKING:
    from apiward.gateway.pipeline import Exchange

log = logging.getLogger("apiward.observability.logs")

RAW_PATH_MAX = 1024
"""Characters of a raw request path kept in an access record."""
FLUSH_INTERVAL = 0.25
"""Seconds a buffered line may wait before the timer writes it."""
FLUSH_BYTES = 64 * 1024
"""A buffer this large is written at once instead of waiting for the timer."""


class JsonLineWriter:
    """Buffered JSON-lines output to ``stdout``, ``stderr``, a file path, or nowhere (``off``).

    ``write`` only encodes and appends to a buffer. Inside a running event loop, a timer writes
    the buffer :data:`FLUSH_INTERVAL` seconds after the first pending line, unless it exceeds
    :data:`FLUSH_BYTES` first, which writes it at once. Outside an event loop every line is
    written at once.
    A failed write (OSError, or a stream already closed) never reaches the caller: the lines are dropped,
    counted in ``dropped`` and the error is logged. ``write`` still raises TypeError for a
    record orjson cannot encode, such as one with non-string keys.
    NOTE: file writes run on the event loop thread; they are batched, but a stalled disk or a
    full pipe on stdout still delays the loop.
    """

    def __init__(self, target: str) -> None:
        self.target = target
        self._enabled = target != "off"
        self._stream: IO[bytes] | None = None
        self._owned = False
        # One growing bytearray, because appending to it costs about a fifth of keeping a list
        # of line objects and joining them (measured with orjson lines of about 250 bytes).
        self._buffer = bytearray()
        self._buffered_lines = 0
        self._timer: asyncio.TimerHandle | None = None
        self.dropped = 0
        self.written = 0
        if self._enabled:
            self._open()

    def _open(self) -> None:
        if self.target == "stdout":
            self._stream = sys.stdout.buffer
        elif self.target == "stderr":
            self._stream = sys.stderr.buffer
        else:
            try:
                # Unbuffered, because lines are batched here and a failed write must not leave
                # bytes in a second buffer that close() would try to write again.
                self._stream = open(self.target, "ab", buffering=0)  # noqa: SIM115 - closed in close()
            except OSError as error:
                raise ValueError(f"cannot open log file {self.target!r}: {error.strerror}") from None
            self._owned = True

    def write(self, record: dict[str, Any]) -> None:
        """Encode ``record`` as one JSON line and queue it for writing."""
        if not self._enabled:
            return
        self._buffer += orjson.dumps(record, default=str, option=orjson.OPT_APPEND_NEWLINE)
        self._buffered_lines += 1
        if len(self._buffer) >= FLUSH_BYTES:
            self.flush()
        elif self._timer is None:
            self._schedule()

    def _schedule(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.flush()
            return
        self._timer = loop.call_later(FLUSH_INTERVAL, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self.flush()

    def flush(self) -> None:
        """Write every pending line now."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._buffer or self._stream is None:
            return
        data, count = self._buffer, self._buffered_lines
        self._buffer = bytearray()
        self._buffered_lines = 0
        try:
            _write_all(self._stream, data)
        except (OSError, ValueError) as error:
            # ValueError: the stream was closed under us, e.g. stdout at interpreter exit.
            self.dropped += count
            log.error("writing %d log lines to %s failed (%d dropped so far): %s",
                      count, self.target, self.dropped, error)
            return
        self.written += count

    def reopen(self) -> None:
        """Flush, then reopen a file target (after log rotation moved the file away)."""
        self.flush()
        if self._owned and self._stream is not None:
            self._stream.close()
            self._open()

    def close(self) -> None:
        """Flush and close a file target; standard streams stay open."""
        self.flush()
        self._enabled = False
        if self._owned and self._stream is not None:
            self._stream.close()
        self._stream = None


def _write_all(stream: IO[bytes], data: bytes | bytearray) -> None:
    view = memoryview(data)
    while view:
        written = stream.write(view)
        if written is None:  # a non-blocking stream that cannot take data now
            raise BlockingIOError("the log stream does not accept data now")
        view = view[written:]
    stream.flush()


def access_record(exchange: Exchange, verdict: str) -> dict[str, Any]:
    """Build the access-log record of a finished exchange.

    ``verdict`` is how the exchange ended, for example ``allowed``, ``blocked`` or ``error``.
    The query string is left out, because it may carry tokens or personal data.
    """
    now = time.perf_counter()
    route = exchange.route
    record: dict[str, Any] = {
        "type": "access",
        "time": time.time(),
        "request_id": exchange.request_id,
        "client": exchange.client_ip,
        "route": getattr(route, "name", None) if route is not None else None,
        "method": exchange.method,
        "path": exchange.path,
        "status": exchange.status,
        "bytes_in": exchange.bytes_in,
        "bytes_out": exchange.bytes_out,
        "upstream_ms": None if exchange.upstream_time is None else round(exchange.upstream_time * 1000, 3),
        "duration_ms": round((now - exchange.started) * 1000, 3),
        "verdict": verdict,
    }
    if exchange.raw_path != exchange.path:
        # A traversal such as /api/../admin is normalised before routing, so keep what was sent.
        record["raw_path"] = exchange.raw_path[:RAW_PATH_MAX]
    if exchange.verdict is not None:
        record["stage"] = exchange.verdict.stage
        record["code"] = exchange.verdict.code
    if exchange.identity is not None:
        record["consumer"] = exchange.identity.consumer or exchange.identity.subject
    return record


_handler: logging.Handler | None = None
"""The handler installed by the last :func:`configure_logging` call."""

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


def configure_logging(level: str = "info", stream: IO[str] | None = None) -> None:
    """Render every standard-library and structlog message as one JSON line on ``stream``.

    ``level`` is ``debug``, ``info``, ``warning`` or ``error``; ``stream`` defaults to stderr.
    Calling it again replaces the previous set-up.
    """
    if level not in _LEVELS:
        raise ValueError(f"invalid log level {level!r}; expected one of {', '.join(_LEVELS)}")
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(serializer=_dumps_text),
        ],
    )
    global _handler
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    if _handler is not None:
        root.removeHandler(_handler)
    _handler = handler
    root.addHandler(handler)
    root.setLevel(_LEVELS[level])
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )


def _dumps_text(value: Any, **_: Any) -> str:
    return orjson.dumps(value, default=str).decode()
