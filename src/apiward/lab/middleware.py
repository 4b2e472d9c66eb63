"""ASGI middleware of the lab: response headers and CORS, TRACE, the body cap and the error boundary.

Each class receives the app's HoleSet and checks its own hole, so every flaw closes on its own.
"""

from __future__ import annotations

import logging
import traceback

from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from apiward.lab.holes import HoleSet

logger = logging.getLogger("apiward.lab")

MAX_BODY_BYTES = 64 * 1024
"""Request body cap of the fixed lab (413 above it)."""

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


class HeadersMiddleware:
    """Security headers and CORS on every response, and the response to TRACE."""

    def __init__(self, app: ASGIApp, holes: HoleSet) -> None:
        self.app = app
        self.add_security_headers = not holes.is_open("security-headers")
        self.reflect_cors = holes.is_open("cors")
        self.echo_trace = holes.is_open("trace-method")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_headers = Headers(scope=scope)
        origin = request_headers.get("origin")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if self.add_security_headers:
                    for name, value in SECURITY_HEADERS.items():
                        headers.setdefault(name, value)
                if self.reflect_cors and origin:
                    # The hole: any origin may read responses with the user's cookies and tokens.
                    headers["Access-Control-Allow-Origin"] = origin
                    headers["Access-Control-Allow-Credentials"] = "true"
                    headers.add_vary_header("Origin")
            await send(message)

        response = self._local_response(scope, request_headers, origin)
        if response is not None:
            await response(scope, receive, send_with_headers)
            return
        await self.app(scope, receive, send_with_headers)

    def _local_response(self, scope: Scope, headers: Headers, origin: str | None) -> Response | None:
        method = scope["method"]
        if method == "TRACE":
            if not self.echo_trace:
                return PlainTextResponse("method TRACE is not allowed", status_code=405)
            return PlainTextResponse(_echo_request(scope, headers), media_type="message/http")
        if (
            method == "OPTIONS"
            and self.reflect_cors
            and origin
            and "access-control-request-method" in headers
        ):
            return Response(
                status_code=204,
                headers={
                    "Access-Control-Allow-Methods": "GET, POST, PUT, PATCH, DELETE",
                    "Access-Control-Allow-Headers": headers.get("access-control-request-headers", "*"),
                    "Access-Control-Max-Age": "600",
                },
            )
        return None


def _echo_request(scope: Scope, headers: Headers) -> str:
    query = scope.get("query_string", b"").decode("latin-1")
    target = scope.get("raw_path", scope["path"].encode()).decode("latin-1") + (f"?{query}" if query else "")
    lines = [f"TRACE {target} HTTP/{scope.get('http_version', '1.1')}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return "\r\n".join(lines) + "\r\n"


class BodyLimitMiddleware:
    """Reject request bodies over MAX_BODY_BYTES with 413 while ``oversized-body`` is closed.

    A declared Content-Length over the cap is rejected before the app runs. A chunked body is
    counted as it arrives: at the cap the 413 is sent, the app is told the client disconnected,
    and whatever the app sends afterwards is dropped.
    """

    def __init__(self, app: ASGIApp, holes: HoleSet) -> None:
        self.app = app
        self.enabled = not holes.is_open("oversized-body")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.enabled:
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY_BYTES):
            await _too_large()(scope, receive, send)
            return

        received = 0
        rejected = False
        started = False

        async def counting_receive() -> Message:
            nonlocal received, rejected
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > MAX_BODY_BYTES and not started:
                    rejected = True
                    await _too_large()(scope, receive, send)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if rejected:
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        await self.app(scope, counting_receive, guarded_send)


def _too_large() -> Response:
    return JSONResponse({"detail": f"request body is larger than {MAX_BODY_BYTES} bytes"}, status_code=413)


class ErrorBoundaryMiddleware:
    """Turn an unhandled exception into a 500; with ``stack-trace`` open the traceback goes along."""

    def __init__(self, app: ASGIApp, holes: HoleSet) -> None:
        self.app = app
        self.show_traceback = holes.is_open("stack-trace")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as error:
            logger.exception("unhandled error on %s %s", scope["method"], scope["path"])
            if started:
                raise
            body: dict[str, object] = {"detail": "internal server error"}
            if self.show_traceback:
                body["error"] = repr(error)
                body["traceback"] = traceback.format_exc()
            await JSONResponse(body, status_code=500)(scope, receive, send)
