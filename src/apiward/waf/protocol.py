"""Protocol checks on the request head: method, target form, Host, headers and content type.

These are not signatures over values but rules about the request's shape, so they run as code
and report anomalies of class ``protocol``.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from apiward.waf.fields import Extraction
from apiward.waf.request import HttpRequest

ALLOWED_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
RESTRICTED_HEADERS = frozenset({"content-range", "if", "lock-token", "request-range", "proxy", "translate"})
"""WebDAV and legacy headers that API clients do not send and attacks use (httpoxy, range abuse)."""
MAX_RANGES = 5
"""A Range header with this many commas or more requests many small ranges (a resource drain)."""
MAX_QUERY_PARAMETERS = 255
"""More query parameters than this counts as parameter flooding."""
MAX_PARAMETER_NAME = 100
"""Query parameter names longer than this are not names an API defines."""
ALLOWED_CHARSETS = frozenset(
    {
        "utf-8",
        "utf8",
        "us-ascii",
        "ascii",
        "iso-8859-1",
        "latin1",
        "iso-8859-15",
        "windows-1252",
        "utf-16",
        "utf-16le",
        "utf-16be",
    }
)
ACCEPT_CHARSETS = frozenset(
    {"utf-8", "utf8", "us-ascii", "ascii", "iso-8859-1", "latin1", "iso-8859-15", "windows-1252"}
)
"""Charsets a client may ask for in Accept; others (EBCDIC, UTF-16) can smuggle payloads past filters."""
_MEDIA_TYPE = re.compile(
    r"^\s*[a-z0-9!#$&^_.+-]+/[a-z0-9!#$&^_.+-]+(?:\s*;\s*[a-z0-9!#$&^_.+-]+=(?:\"[^\"]*\"|[^\s;\"]+))*\s*;?\s*$",
    re.IGNORECASE,
)
_ACCEPT_ENCODING = re.compile(r"[A-Za-z0-9\s,;=.*_-]{0,200}")
"""Codings such as ``gzip, deflate;q=0.5, *``. Long or odd values crashed Windows http.sys
(CVE-2022-21907)."""
_LEGACY_COOKIE = re.compile(r"(?:^|[;,])\s*\$(?:version|path|domain|port)\s*=", re.IGNORECASE)
_SESSION_NAME = re.compile(r"session[-_]?id=", re.IGNORECASE)
_CHARSET = re.compile(r";\s*charset\s*=\s*\"?([^\s\";]*)", re.IGNORECASE)


def check_head(request: HttpRequest, extraction: Extraction) -> None:
    """Record protocol anomalies of the request line and headers."""
    if request.method not in ALLOWED_METHODS:
        extraction.anomaly(
            "method_not_allowed", "protocol", "method", f"method {request.method[:40]!r} is not allowed"
        )
    if not request.path.startswith("/") and not (request.method == "OPTIONS" and request.path == "*"):
        extraction.anomaly(
            "invalid_target", "protocol", "path", "request target is not in origin form (/path)"
        )
    host_count = 0
    for name, value in request.headers:
        if name == "host":
            host_count += 1
            if not value.strip():
                extraction.anomaly("empty_host", "protocol", "header.host", "Host header is empty")
        elif name in ("user-agent", "accept") and not value.strip():
            extraction.anomaly("empty_header", "protocol", f"header.{name}", f"{name} header is empty")
        elif name in RESTRICTED_HEADERS:
            extraction.anomaly(
                "restricted_header", "protocol", f"header.{name}", f"header {name!r} is not allowed"
            )
        elif name == "connection":
            _check_connection(value, extraction)
        elif name == "accept-encoding" and not _ACCEPT_ENCODING.fullmatch(value):
            extraction.anomaly(
                "invalid_accept_encoding",
                "protocol",
                "header.accept-encoding",
                "Accept-Encoding is not a short list of codings with optional q values",
            )
        elif name == "cookie" and "$" in value and _LEGACY_COOKIE.search(value):
            extraction.anomaly(
                "legacy_cookie",
                "protocol",
                "header.cookie",
                "Cookie uses RFC 2965 attributes ($Version), which switch some parsers to quoted values",
            )
        elif name == "content-type":
            _check_content_type(value, extraction)
        elif name == "accept" and "charset" in value.lower():
            _check_accept_charsets(value, extraction)
        elif name == "range" and value.count(",") >= MAX_RANGES:
            extraction.anomaly(
                "range_header", "protocol", "header.range", "Range header asks for too many ranges"
            )
    if request.query:
        _check_query_shape(request.query, extraction)
        if _has_session_parameter(request.query):
            _check_session_referer(request, extraction, "query-name")
    if host_count != 1:
        extraction.anomaly(
            "host_header", "protocol", "header.host", f"{host_count} Host headers; expected exactly one"
        )


def _has_session_parameter(pairs: str) -> bool:
    """Tell whether ``a=1&b=2`` text has a parameter named like a session id.

    The pattern starts with a letter, which the regular expression engine finds quickly. A
    leading ``(?:^|&)`` would make it try every position, so the boundary is checked here.
    """
    return any(
        found.start() == 0 or pairs[found.start() - 1] == "&" for found in _SESSION_NAME.finditer(pairs)
    )


def _check_query_shape(query: str, extraction: Extraction) -> None:
    pairs = query.split("&")
    if len(pairs) > MAX_QUERY_PARAMETERS:
        extraction.anomaly(
            "too_many_parameters", "protocol", "query", f"more than {MAX_QUERY_PARAMETERS} query parameters"
        )
    for pair in pairs:
        if len(pair.partition("=")[0]) > MAX_PARAMETER_NAME:
            message = f"query parameter name over {MAX_PARAMETER_NAME} characters"
            extraction.anomaly("long_parameter_name", "protocol", "query-name", message)
            return


def check_form_session(request: HttpRequest, form: str, extraction: Extraction) -> None:
    """Record an anomaly for a session id field in a form body that another site's page posted."""
    if _has_session_parameter(form):
        _check_session_referer(request, extraction, "body-name")


def _check_session_referer(request: HttpRequest, extraction: Extraction, location: str) -> None:
    """Flag a session id in the query or form of a request that another site's page sent.

    That is how a session fixation attack plants its session id; a first-party page links with
    the site's own host in Referer.
    """
    referer = request.header("referer")
    host = (request.header("host") or "").split(":")[0].lower()
    if not referer:
        return
    referer_host = (urlsplit(referer.strip()).hostname or "").lower()
    if referer_host and _site(referer_host) != _site(host):
        extraction.anomaly(
            "session_id_from_other_site",
            "session-fixation",
            location,
            f"session id parameter in a request referred by {referer_host[:60]!r}",
        )


def _site(host: str) -> str:
    """Return the last two labels of ``host``, so an app on another subdomain counts as the same site.

    NOTE: hosts under a two-label public suffix (``example.co.uk``) all count as one site here.
    """
    return ".".join(host.rsplit(".", 2)[-2:])


def _check_connection(value: str, extraction: Extraction) -> None:
    tokens = [token.strip().lower() for token in value.split(",") if token.strip()]
    if len(tokens) != len(set(tokens)) or {"close", "keep-alive"} <= set(tokens):
        extraction.anomaly(
            "connection_header",
            "protocol",
            "header.connection",
            "Connection header repeats or contradicts itself",
        )


def _check_accept_charsets(value: str, extraction: Extraction) -> None:
    for found in _CHARSET.findall(value):
        charset = found.split(",")[0].strip().lower()
        if charset not in ACCEPT_CHARSETS:
            message = f"Accept requests charset {charset[:30]!r}"
            extraction.anomaly("accept_charset", "protocol", "header.accept", message)
            return


_valid_content_types: set[str] = set()
"""Content-Type values that passed every check; clients send the same few on every request."""
VALID_CONTENT_TYPES_MAX = 1024


def _check_content_type(value: str, extraction: Extraction) -> None:
    if value in _valid_content_types:
        return
    found = len(extraction.anomalies)
    _record_content_type_anomalies(value, extraction)
    if len(extraction.anomalies) == found and len(value) <= 256:
        if len(_valid_content_types) >= VALID_CONTENT_TYPES_MAX:
            _valid_content_types.clear()
        _valid_content_types.add(value)


def _record_content_type_anomalies(value: str, extraction: Extraction) -> None:
    if not _MEDIA_TYPE.match(value):
        extraction.anomaly(
            "invalid_content_type", "protocol", "header.content-type", f"invalid media type {value[:60]!r}"
        )
        return
    if "boundary" in value.lower() and not value.lower().lstrip().startswith("multipart/"):
        extraction.anomaly(
            "boundary_not_multipart", "protocol", "header.content-type", "boundary on a non-multipart type"
        )
    if len(_CHARSET.findall(value)) > 1:
        extraction.anomaly(
            "repeated_charset", "protocol", "header.content-type", "Content-Type names more than one charset"
        )
    charset = _CHARSET.search(value)
    if charset is not None and charset.group(1).lower() not in ALLOWED_CHARSETS:
        extraction.anomaly(
            "charset_not_allowed",
            "protocol",
            "header.content-type",
            f"charset {charset.group(1)[:30]!r} is not allowed",
        )
