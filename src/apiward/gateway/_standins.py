"""Minimal stand-ins for modules that other parts of the gateway provide.

The proxy core imports path normalisation, routing, forwarding headers and the observability
writers through :mod:`apiward.gateway.compile`, which prefers the real modules
(``apiward.gateway.paths``, ``apiward.gateway.forwarding``, ``apiward.observability``) and
falls back to these only while those modules are missing.
NOTE: these are deliberately small; they exist so the proxy runs and is testable on its own.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Sequence
from ipaddress import IPv4Network, IPv6Network, ip_address
from typing import IO, Any, Generic, TypeVar

import orjson

from apiward.gateway.pipeline import Headers

T = TypeVar("T")

_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


class PathError(Exception):
    """An invalid request path; ``code`` is the JSON error code of the 400 answer."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def normalize_path(raw_path: str) -> tuple[str, bool]:
    """Decode unreserved escapes, resolve dot segments and report an encoded slash."""
    if "%" in raw_path:
        raw_path = _ESCAPE.sub(_decode_escape, raw_path)
        if re.search(r"%(?![0-9A-F]{2})", raw_path):
            raise PathError("invalid_path", "The path contains an invalid percent escape.")
    encoded_slash = "%2F" in raw_path
    if "%5C" in raw_path or "%00" in raw_path or "\\" in raw_path:
        raise PathError("invalid_path", "The path contains a forbidden character.")
    if "/." not in raw_path and "//" not in raw_path:
        return raw_path, encoded_slash
    segments: list[str] = []
    for segment in raw_path.split("/")[1:]:
        if segment == "..":
            if segments:
                segments.pop()
        elif segment not in (".", ""):
            segments.append(segment)
    path = "/" + "/".join(segments)
    if raw_path.endswith(("/", "/.", "/..")) and path != "/":
        path += "/"
    return path, encoded_slash


def _decode_escape(match: re.Match[str]) -> str:
    char = chr(int(match.group(1), 16))
    return char if char in _UNRESERVED else "%" + match.group(1).upper()


class RouteTable(Generic[T]):
    """First-match route table over path prefixes and ``{name}`` templates."""

    def __init__(self, entries: Sequence[tuple[Any, bool, T]]) -> None:
        self._entries: list[tuple[re.Pattern[str] | None, str, frozenset[str] | None, bool, T]] = []
        for match, _allow_encoded_slashes, payload in entries:
            methods = frozenset(match.methods) if match.methods else None
            path: str = match.path
            pattern = None
            if "{" in path:
                source = re.sub(r"\\\{([A-Za-z_][A-Za-z0-9_]*)\\\}", r"(?P<\1>[^/]+)", re.escape(path))
                flags = 0 if match.case_sensitive else re.IGNORECASE
                pattern = re.compile(source + "$", flags)
            prefix = path if match.case_sensitive else path.lower()
            self._entries.append((pattern, prefix, methods, match.case_sensitive, payload))

    def match(self, method: str, path: str) -> tuple[T, dict[str, str]] | None:
        lowered = path.lower()
        for pattern, prefix, methods, case_sensitive, payload in self._entries:
            if methods is not None and method not in methods:
                continue
            if pattern is not None:
                found = pattern.match(path)
                if found:
                    return payload, found.groupdict()
            elif (path if case_sensitive else lowered).startswith(prefix):
                return payload, {}
        return None


class Forwarding:
    """Forwarding headers: trust X-Forwarded-For and X-Request-Id only from trusted peers."""

    def __init__(self, trusted_proxies: Sequence[IPv4Network | IPv6Network]) -> None:
        self._trusted = tuple(trusted_proxies)
        self._counter = 0
        self._prefix = os.urandom(6).hex()

    def _is_trusted(self, peer_ip: str) -> bool:
        if not self._trusted:
            return False
        address = ip_address(peer_ip)
        return any(address in network for network in self._trusted)

    def client_ip(self, peer_ip: str, headers: Headers) -> str:
        if not self._is_trusted(peer_ip):
            return peer_ip
        forwarded = headers.get("x-forwarded-for")
        if not forwarded:
            return peer_ip
        return forwarded.split(",")[-1].strip() or peer_ip

    def request_id(self, peer_ip: str, headers: Headers) -> str:
        if self._trusted:
            supplied = headers.get("x-request-id")
            if supplied and len(supplied) <= 128 and self._is_trusted(peer_ip):
                return supplied
        self._counter += 1
        return f"{self._prefix}{self._counter:010x}"

    def rewrite(
        self, headers: Headers, *, peer_ip: str, client_ip: str, scheme: str, host: str, request_id: str
    ) -> None:
        items = [
            item for item in headers.items
            if item[0] not in ("x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "forwarded",
                               "x-real-ip", "x-request-id")
        ]
        items.append(("x-forwarded-for", client_ip))
        items.append(("x-forwarded-proto", scheme))
        items.append(("x-request-id", request_id))
        headers.items = items


class JsonLineWriter:
    """Write one JSON document per line to stdout, stderr, a file, or nowhere."""

    def __init__(self, target: str) -> None:
        self._stream: IO[bytes] | None
        if target == "off":
            self._stream = None
        elif target == "stdout":
            self._stream = sys.stdout.buffer
        elif target == "stderr":
            self._stream = sys.stderr.buffer
        else:
            self._stream = open(target, "ab")  # noqa: SIM115 - closed in close()
        self._owned = target not in ("off", "stdout", "stderr")
        self._pending: list[bytes] = []

    def write(self, record: dict[str, Any]) -> None:
        if self._stream is not None:
            self._pending.append(orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE))
            if len(self._pending) >= 64:
                self.flush()

    def flush(self) -> None:
        if self._stream is not None and self._pending:
            self._stream.write(b"".join(self._pending))
            self._stream.flush()
            self._pending.clear()

    def close(self) -> None:
        self.flush()
        if self._owned and self._stream is not None:
            self._stream.close()


def access_record(exchange: Any, verdict: str) -> dict[str, Any]:
    return {
        "type": "access", "request_id": exchange.request_id, "client": exchange.client_ip,
        "method": exchange.method, "path": exchange.path, "status": exchange.status,
        "route": getattr(exchange.route, "name", None), "verdict": verdict,
        "bytes_in": exchange.bytes_in, "bytes_out": exchange.bytes_out,
    }


class EventSink:
    """Write SecurityEvents as JSON lines."""

    def __init__(self, writer: JsonLineWriter) -> None:
        self._writer = writer

    def emit(self, event: Any) -> None:
        self._writer.write(event.to_dict())


class GatewayMetrics:
    """Counters in plain dicts, rendered in the Prometheus text format."""

    def __init__(self) -> None:
        self.counters: dict[str, float] = {}

    def _add(self, key: str, amount: float = 1.0) -> None:
        self.counters[key] = self.counters.get(key, 0.0) + amount

    def request(self, route: str, status: int, seconds: float) -> None:
        self._add(f'apiward_requests_total{{route="{route}",status="{status}"}}')
        self._add("apiward_request_seconds_sum", seconds)

    def denial(self, stage: str) -> None:
        self._add(f'apiward_denials_total{{stage="{stage}"}}')

    def upstream_error(self, upstream: str, kind: str) -> None:
        self._add(f'apiward_upstream_errors_total{{upstream="{upstream}",kind="{kind}"}}')

    def connection_opened(self) -> None:
        self._add("apiward_open_connections")

    def connection_closed(self) -> None:
        self._add("apiward_open_connections", -1.0)

    def set_pool_size(self, upstream: str, size: int) -> None:
        self.counters[f'apiward_upstream_pool_size{{upstream="{upstream}"}}'] = float(size)

    def render(self) -> tuple[bytes, str]:
        lines = [f"{key} {value}" for key, value in sorted(self.counters.items())]
        return ("\n".join(lines) + "\n").encode(), "text/plain; version=0.0.4; charset=utf-8"
