"""The ``headers`` stage: security response headers and CORS.

Every response of the route, the gateway's own denials included, gets the configured security
headers, loses the headers that reveal the upstream's software, and gets CORS headers when the
request came from an allowed origin.

The gateway responds to CORS preflights (OPTIONS with ``Origin`` and
``Access-Control-Request-Method``) itself, so they never reach the upstream. An allowed one gets
204 with verdict code ``cors_preflight`` and ``details["denial"] = False``, so that it is not
counted as a denial. A disallowed one gets 403 ``cors_rejected``. A simple request from a
disallowed origin goes on to the upstream, but its response carries no CORS headers, so the
browser keeps it from the page.
"""

from __future__ import annotations

import re
from typing import Any

from apiward.gateway.pipeline import Exchange, Headers, Stage, StageContext, Verdict
from apiward.policy.stages.headers import CorsConfig, HeadersConfig

_CORS_ORIGIN_KEY = "cors_origin"
_VARY_PREFLIGHT = "Origin, Access-Control-Request-Method, Access-Control-Request-Headers"
_CORS_RESPONSE_HEADERS = frozenset(
    (
        "access-control-allow-origin", "access-control-allow-credentials", "access-control-expose-headers",
        "access-control-allow-methods", "access-control-allow-headers", "access-control-max-age",
    )
)


class OriginAllowList:
    """Exact origins and ``scheme://*.domain[:port]`` patterns, compared case-insensitively."""

    def __init__(self, origins: list[str]) -> None:
        self.any = "*" in origins
        self._exact = frozenset(origin for origin in origins if "*" not in origin)
        patterns = [_pattern_regex(origin) for origin in origins if "*." in origin]
        self._patterns = re.compile("|".join(patterns)) if patterns else None

    def allows(self, origin: str) -> bool:
        if self.any:
            return True
        lowered = origin.lower()
        if lowered in self._exact:
            return True
        return self._patterns is not None and self._patterns.fullmatch(lowered) is not None


def _pattern_regex(pattern: str) -> str:
    scheme, _, rest = pattern.partition("://*.")
    return re.escape(f"{scheme}://") + r"(?:[a-z0-9-]+\.)+" + re.escape(rest)


class HeadersStage(Stage):
    """Adds security headers to responses and removes the upstream's revealing headers."""

    name = "headers"

    def __init__(self, config: HeadersConfig) -> None:
        self._plain = _security_headers(config, https=False)
        self._tls = _security_headers(config, https=True)
        self._dropped = frozenset(set(config.remove_headers) | {name for name, _ in self._tls})
        # The gateway's own responses (denials, preflights) keep every header the stage did not set.
        self._dropped_own = frozenset(name for name, _ in self._tls)

    def response_head(self, exchange: Exchange) -> None:
        self._rewrite_response(exchange)

    def _rewrite_response(self, exchange: Exchange) -> list[tuple[str, str]]:
        """Replace the response header list with the filtered one plus the security headers."""
        headers = exchange.response_headers
        if headers is None:
            headers = exchange.response_headers = Headers()
        dropped = self._dropped if exchange.verdict is None else self._dropped_own
        items = [(name, value) for name, value in headers.items if name not in dropped]
        items.extend(self._tls if exchange.scheme == "https" else self._plain)
        headers.items = items
        return items


class CorsHeadersStage(HeadersStage):
    """The headers stage with CORS: preflight responses and the origin allow-list."""

    def __init__(self, config: HeadersConfig, cors: CorsConfig) -> None:
        super().__init__(config)
        self._cors = cors
        self._origins = OriginAllowList(cors.allow_origins)
        # Upstream CORS headers are dropped, so the policy's allow-list is the only one that counts.
        self._dropped = self._dropped | _CORS_RESPONSE_HEADERS
        self._wildcard_origin = self._origins.any and not cors.allow_credentials
        self._simple_cors = _simple_cors_headers(cors)
        self._preflight_cors = _preflight_headers(cors)

    def request_head(self, exchange: Exchange) -> Verdict | None:
        origin = exchange.headers.get("origin")
        if origin is None:
            return None
        if exchange.method == "OPTIONS" and "access-control-request-method" in exchange.headers:
            return self._preflight(exchange, origin)
        if self._origins.allows(origin):
            exchange.stage_data[_CORS_ORIGIN_KEY] = origin
        return None

    def _preflight(self, exchange: Exchange, origin: str) -> Verdict:
        cors = self._cors
        requested_method = (exchange.headers.get("access-control-request-method") or "").strip()
        requested_headers = _header_list(exchange.headers.get_all("access-control-request-headers"))
        reason = None
        if not self._origins.allows(origin):
            reason = "origin"
        elif requested_method not in cors.allow_methods:
            reason = "method"
        elif "*" not in cors.allow_headers and not requested_headers <= set(cors.allow_headers):
            reason = "headers"
        if reason is not None:
            return Verdict(
                403, "cors_rejected", "The cross-origin request is not allowed.",
                headers=[("vary", _VARY_PREFLIGHT)], category="API8:2023",
                details={"origin": origin[:200], "rejected": reason},
            )
        allow_origin = "*" if self._wildcard_origin else origin
        return Verdict(
            204, "cors_preflight", "",
            headers=[("access-control-allow-origin", allow_origin), *self._preflight_cors],
            details={"denial": False},
        )

    def response_head(self, exchange: Exchange) -> None:
        items = self._rewrite_response(exchange)
        origin = exchange.stage_data.get(_CORS_ORIGIN_KEY)
        if origin is not None:
            items.append(("access-control-allow-origin", "*" if self._wildcard_origin else origin))
            items.extend(self._simple_cors)
        _add_vary_origin(items)


def _security_headers(config: HeadersConfig, *, https: bool) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str | None]] = [
        ("strict-transport-security", config.strict_transport_security if https else None),
        ("content-security-policy", config.content_security_policy),
        ("x-content-type-options", config.content_type_options),
        ("referrer-policy", config.referrer_policy),
        ("cache-control", config.cache_control),
    ]
    headers = {name: value for name, value in pairs if value is not None}
    headers.update(config.set_headers)
    return list(headers.items())


def _simple_cors_headers(cors: CorsConfig) -> list[tuple[str, str]]:
    headers = []
    if cors.allow_credentials:
        headers.append(("access-control-allow-credentials", "true"))
    if cors.expose_headers:
        headers.append(("access-control-expose-headers", ", ".join(cors.expose_headers)))
    return headers


def _preflight_headers(cors: CorsConfig) -> list[tuple[str, str]]:
    headers = [
        ("access-control-allow-methods", ", ".join(cors.allow_methods)),
        ("access-control-max-age", str(int(cors.max_age))),
        ("vary", _VARY_PREFLIGHT),
    ]
    if cors.allow_headers:
        headers.append(("access-control-allow-headers", ", ".join(cors.allow_headers)))
    if cors.allow_credentials:
        headers.append(("access-control-allow-credentials", "true"))
    return headers


def _header_list(values: list[str]) -> set[str]:
    names: set[str] = set()
    for value in values:
        names.update(part.strip().lower() for part in value.split(",") if part.strip())
    return names


def _add_vary_origin(items: list[tuple[str, str]]) -> None:
    for index, (name, value) in enumerate(items):
        if name == "vary":
            tokens = {token.strip().lower() for token in value.split(",")}
            if "origin" in tokens or "*" in tokens:
                return
            items[index] = (name, f"{value}, Origin")
            return
    items.append(("vary", "Origin"))


def build(config: Any, context: StageContext) -> HeadersStage:
    if not isinstance(config, HeadersConfig):
        raise TypeError(f"headers stage needs a HeadersConfig, got {type(config).__name__}")
    if config.cors is None:
        # Without CORS the stage has no request hook, so the pipeline does not call one.
        return HeadersStage(config)
    return CorsHeadersStage(config, config.cors)
