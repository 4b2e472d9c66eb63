"""The only way the scanner sends HTTP: origin guard, rate cap, request budget and HAR log.

Every request goes through :meth:`ScanClient.send`, which refuses any URL outside the target's
origin before a socket is opened, waits to keep under the rate cap, counts against the budget
and records the exchange for the HAR file.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from apiward.scanner.errors import BudgetExhausted, OriginError, UsageError
from apiward.scanner.findings import ExchangeRecord
from apiward.scanner.har import HarLog
from apiward.scanner.masking import mask_body, mask_headers

_EVIDENCE_BODY_CHARS = 2000


def origin_of(url: str) -> tuple[str, str, int]:
    """Return (scheme, host, port) of an absolute http(s) URL, raising UsageError otherwise."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"invalid target URL {url!r}; expected http://host:port or https://host:port")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return parts.scheme, parts.hostname.lower(), port


@dataclass
class Response:
    """One exchange as a check reads it. ``status`` is None when the request failed."""

    status: int | None
    headers: httpx.Headers
    body: bytes
    elapsed: float
    record: ExchangeRecord
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        """Return the parsed JSON body, or None when the body is not JSON."""
        import json

        try:
            return json.loads(self.body)
        except ValueError:
            return None


class ScanClient:
    """HTTP client bound to one target origin."""

    def __init__(
        self,
        target: str,
        *,
        rate: float,
        budget: int,
        timeout: float = 10.0,
        verify: bool = True,
        har: HarLog | None = None,
    ) -> None:
        self.base_url = target.rstrip("/")
        self.origin = origin_of(target)
        if rate <= 0:
            raise UsageError(f"invalid --rate {rate}; expected requests per second above 0")
        if budget < 1:
            raise UsageError(f"invalid --budget {budget}; expected a request count of at least 1")
        self._interval = 1.0 / rate
        self.budget = budget
        self.sent = 0
        self._next_at = 0.0
        self._lock = threading.Lock()
        self._har = har
        self._http = httpx.Client(timeout=timeout, verify=verify, follow_redirects=False)

    def close(self) -> None:
        self._http.close()

    def check_origin(self, url: str) -> None:
        """Raise OriginError unless ``url`` is on the target's origin."""
        try:
            origin = origin_of(url)
        except UsageError as error:
            raise OriginError(str(error)) from None
        if origin != self.origin:
            raise OriginError(f"rejected request to {url!r}: outside the target origin")

    def send(
        self,
        method: str,
        path: str,
        *,
        headers: dict[str, str] | None = None,
        params: dict[str, Any] | None = None,
        json: Any = None,
        content: bytes | None = None,
        timeout: float | None = None,
    ) -> Response:
        """Send one request to the target and return its response (status None on failure)."""
        url = path if path.startswith(("http://", "https://")) else self.base_url + path
        self.check_origin(url)
        self._take_slot()
        request = self._http.build_request(
            method,
            url,
            headers=headers,
            params=params,
            json=json,
            content=content,
            timeout=timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT,
        )
        started = time.perf_counter()
        try:
            reply = self._http.send(request)
            body = reply.content
        except httpx.HTTPError as error:
            elapsed = time.perf_counter() - started
            return self._failed(request, elapsed, f"{type(error).__name__}: {error}")
        elapsed = time.perf_counter() - started
        record = self._record(request, reply.status_code, reply.headers, body, elapsed, None)
        if self._har is not None:
            self._har.add(request, reply, body, elapsed)
        return Response(reply.status_code, reply.headers, body, elapsed, record)

    def _failed(self, request: httpx.Request, elapsed: float, message: str) -> Response:
        record = self._record(request, None, httpx.Headers(), b"", elapsed, message)
        if self._har is not None:
            self._har.add(request, None, b"", elapsed)
        return Response(None, httpx.Headers(), b"", elapsed, record, message)

    def _take_slot(self) -> None:
        with self._lock:
            if self.sent >= self.budget:
                raise BudgetExhausted(f"request budget of {self.budget} spent")
            self.sent += 1
            now = time.monotonic()
            wait = self._next_at - now
            self._next_at = max(now, self._next_at) + self._interval
        if wait > 0:
            time.sleep(wait)

    @staticmethod
    def _record(
        request: httpx.Request,
        status: int | None,
        headers: httpx.Headers,
        body: bytes,
        elapsed: float,
        error: str | None,
    ) -> ExchangeRecord:
        request_body = request.content.decode("utf-8", "replace") if request.content else ""
        return ExchangeRecord(
            method=request.method,
            url=str(request.url),
            request_headers=mask_headers(dict(request.headers)),
            request_body=mask_body(request_body)[:_EVIDENCE_BODY_CHARS],
            status=status,
            response_headers=mask_headers(dict(headers)),
            response_body=mask_body(body.decode("utf-8", "replace"))[:_EVIDENCE_BODY_CHARS],
            elapsed=elapsed,
            error=error,
        )
