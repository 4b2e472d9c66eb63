"""Strict HTTP/1.1 framing: request and response heads, body framing, canonical output.

The gateway never forwards the client's raw bytes. A head is accepted only when one regular
expression matches all of it. The request line is a token method, a target of visible ASCII
and ``HTTP/1.0`` or ``HTTP/1.1``. Each field line is a token name, a colon and a value without
control characters other than HTAB, ended by CRLF. That single match rejects bare CR, bare LF,
obs-fold, whitespace before the colon, invalid name characters and control characters. The
field-level rules (Content-Length, Transfer-Encoding, Host) are checked next, and the
upstream receives a head serialised from the parsed values.

httptools (llhttp) is not used to parse heads, for two reasons. httptools 0.9 exposes no way
to pause between pipelined messages, so a second request in the same read would be parsed
before the checks above ran on it. And llhttp accepts some of the forms rejected here.
Heads, chunked bodies and responses are therefore framed by this module.

Errors are :class:`HttpError` with the status and the stable error code of the gateway's
JSON error response.
"""

from __future__ import annotations

import re

import orjson

from apiward.gateway.pipeline import Headers

_TOKEN = rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_FIELD_LINE = _TOKEN + rb":[\t\x20-\x7e\x80-\xff]*\r\n"
_REQUEST_HEAD = re.compile(
    rb"(" + _TOKEN + rb") ([\x21-\x7e]+) HTTP/1\.([01])\r\n((?:" + _FIELD_LINE + rb")*)\r\n"
)
_RESPONSE_HEAD = re.compile(
    rb"HTTP/1\.([01]) ([1-9][0-9]{2}) ?[\t\x20-\x7e\x80-\xff]*\r\n((?:" + _FIELD_LINE + rb")*)\r\n"
)
_FIELD_LINE_ONLY = re.compile(_FIELD_LINE[:-4])
_CHUNK_SIZE_LINE = re.compile(rb"([0-9A-Fa-f]{1,16})(?:;[\t\x20-\x7e\x80-\xff]*)?")
_HOST_VALUE = re.compile(r"[A-Za-z0-9.\-_~!$&'()*+,;=%]*(?::[0-9]*)?|\[[0-9A-Fa-f:.]+\](?::[0-9]*)?")

HEAD_END = b"\r\n\r\n"
MAX_CHUNK_LINE = 4096
CACHE_MAX_ENTRIES = 512
CACHE_MAX_HEAD = 2048
"""Heads up to this many bytes are memoised, so a repeated head is parsed once."""

HOP_BY_HOP = frozenset({
    "connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade",
    "proxy-authorization", "proxy-authenticate",
})
"""Fields that describe one connection and are never forwarded (RFC 9110, section 7.6.1)."""
_REQUEST_SPECIAL = HOP_BY_HOP | {"content-length", "host", "expect"}
_RESPONSE_DROPPED = HOP_BY_HOP | {"content-length", "x-request-id"}
"""Response fields never relayed: the gateway frames the body and sets its own request id."""


class HttpError(Exception):
    """A message the gateway rejects; ``status`` and ``code`` go into its JSON response."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def _bad(code: str, message: str) -> HttpError:
    return HttpError(400, code, message)


class RequestHead:
    """A parsed request head; ``headers`` already lacks hop-by-hop and framing fields."""

    __slots__ = (
        "chunked", "content_length", "expect_continue", "field_count", "headers", "host", "keep_alive",
        "method", "query", "raw_path", "target", "version",
    )

    def __init__(self, headers: Headers | None = None) -> None:
        self.method = ""
        self.target = ""
        self.version = "1.1"
        self.headers = headers if headers is not None else Headers()
        self.host: str | None = None
        self.content_length = -1
        """-1 when the request has no Content-Length field."""
        self.chunked = False
        self.keep_alive = True
        self.expect_continue = False
        self.raw_path = ""
        self.query = ""
        self.field_count = 0
        """Field lines in the head as received, the framing and hop-by-hop ones included."""

    def copy(self) -> RequestHead:
        """Return a copy whose header list can be changed without touching this one."""
        other = RequestHead(Headers(self.headers.items))
        other.method = self.method
        other.target = self.target
        other.version = self.version
        other.host = self.host
        other.content_length = self.content_length
        other.chunked = self.chunked
        other.keep_alive = self.keep_alive
        other.expect_continue = self.expect_continue
        other.raw_path = self.raw_path
        other.query = self.query
        other.field_count = self.field_count
        return other


class ResponseHead:
    """A parsed upstream response head; ``headers`` lacks hop-by-hop and framing fields."""

    __slots__ = ("chunked", "content_length", "headers", "keep_alive", "status", "version")

    def __init__(self, status: int, version: str, headers: Headers) -> None:
        self.status = status
        self.version = version
        self.headers = headers
        self.content_length = -1
        """-1 when the response has no Content-Length (chunked, or delimited by close)."""
        self.chunked = False
        self.keep_alive = True

    def copy(self) -> ResponseHead:
        """Return a copy whose header list can be changed without touching this one."""
        other = ResponseHead(self.status, self.version, Headers(self.headers.items))
        other.content_length = self.content_length
        other.chunked = self.chunked
        other.keep_alive = self.keep_alive
        return other


# Parsing is a pure function of the head bytes, so identical heads (the same client repeating a
# request, or an upstream's responses within the same second of its Date field) reuse one
# result. The key is the exact bytes, and a full cache is simply emptied.
_request_cache: dict[bytes, RequestHead] = {}
_response_cache: dict[bytes, ResponseHead] = {}
_field_blocks: dict[tuple[tuple[str, str], ...], str] = {}
"""Serialised field lines (each ending with CRLF) by the fields they were built from."""


def check_partial_head(buffer: bytes | bytearray) -> None:
    """Reject an unfinished head early when it already ends a line with a bare LF.

    A head that uses LF alone never contains CRLF CRLF, so without this check it would wait
    for the header timeout instead of getting its 400 at once.
    """
    if b"\n\n" in buffer:
        raise _bad("invalid_line_ending", "Lines must end with CRLF; a bare LF was found.")


def parse_request_head(head: bytes) -> RequestHead:
    """Parse a request head ending with CRLF CRLF; raise :class:`HttpError` when it is invalid."""
    cached = _request_cache.get(head)
    if cached is not None:
        return cached.copy()
    request = _parse_request_head(head)
    if len(head) <= CACHE_MAX_HEAD:
        if len(_request_cache) >= CACHE_MAX_ENTRIES:
            _request_cache.clear()
        _request_cache[head] = request.copy()
    return request


def cached_request_head(head: bytes) -> RequestHead | None:
    """Return a copy of the parsed head when exactly these bytes were parsed before, else None.

    A head in the cache passed every check, and its only empty line is its last, so a buffer
    that is such a head contains one whole request head and nothing more.
    """
    cached = _request_cache.get(head)
    return cached.copy() if cached is not None else None


def _parse_request_head(head: bytes) -> RequestHead:
    match = _REQUEST_HEAD.fullmatch(head)
    if match is None:
        raise diagnose_request_head(head)
    request = RequestHead()
    request.method = match.group(1).decode("ascii")
    request.target = target = match.group(2).decode("ascii")
    http10 = match.group(3) == b"0"
    if http10:
        request.version = "1.0"
    _read_fields(request, match.group(4).decode("latin-1"), http10)
    _split_target(request, target)
    return request


def _read_fields(request: RequestHead, fields: str, http10: bool) -> None:
    items = request.headers.items
    content_length: str | None = None
    transfer_encoding: str | None = None
    connection = ""
    hosts = 0

    lines = fields.split("\r\n")
    lines.pop()
    request.field_count = len(lines)
    for line in lines:
        name, _, raw_value = line.partition(":")
        name = name.lower()
        value = raw_value.strip(" \t")
        if name in _REQUEST_SPECIAL:
            if name == "content-length":
                if content_length is not None:
                    raise _bad("invalid_content_length", "Only one Content-Length field is allowed.")
                content_length = value
                continue
            if name == "transfer-encoding":
                if transfer_encoding is not None:
                    raise _bad("invalid_transfer_encoding", "Only one Transfer-Encoding field is allowed.")
                # Only the exact forms are accepted: padding such as a tab or a second space is a
                # classic way to make two parsers disagree about the framing.
                transfer_encoding = "chunked" if raw_value in ("chunked", " chunked") else "invalid"
                continue
            if name == "host":
                hosts += 1
                request.host = value
            elif name == "connection":
                connection = f"{connection},{value.lower()}" if connection else value.lower()
                continue
            elif name == "expect":
                if value.lower() != "100-continue":
                    raise HttpError(417, "expectation_failed", "Only Expect: 100-continue is supported.")
                request.expect_continue = True
                continue
            else:
                continue
        items.append((name, value))

    _check_framing(request, content_length, transfer_encoding, http10)
    _check_host(request, hosts, http10)
    request.keep_alive = _keep_alive(connection, http10)
    if connection:
        _drop_connection_fields(request.headers, connection)


def _check_framing(
    request: RequestHead, content_length: str | None, transfer_encoding: str | None, http10: bool
) -> None:
    if transfer_encoding is not None:
        if content_length is not None:
            raise _bad("ambiguous_framing", "Content-Length and Transfer-Encoding must not be combined.")
        if http10:
            raise _bad("invalid_transfer_encoding", "Transfer-Encoding is not allowed in HTTP/1.0.")
        if transfer_encoding != "chunked":
            raise _bad("invalid_transfer_encoding", "Transfer-Encoding must be exactly 'chunked'.")
        request.chunked = True
    elif content_length is not None:
        request.content_length = parse_content_length(content_length)


def parse_content_length(value: str) -> int:
    """Parse a Content-Length value of plain decimal digits (no sign, list or whitespace)."""
    if not value.isdigit() or not value.isascii() or len(value) > 18:
        raise _bad("invalid_content_length", "Content-Length must be a single decimal number.")
    return int(value)


def _check_host(request: RequestHead, hosts: int, http10: bool) -> None:
    if hosts > 1:
        raise _bad("invalid_host", "Only one Host field is allowed.")
    if hosts == 0:
        if not http10:
            raise _bad("missing_host", "HTTP/1.1 requests must carry a Host field.")
        return
    host = request.host or ""
    if not host or _HOST_VALUE.fullmatch(host) is None:
        raise _bad("invalid_host", "The Host field is not a valid host name.")


def _keep_alive(connection: str, http10: bool) -> bool:
    if not connection:
        return not http10
    tokens = [token.strip() for token in connection.split(",")]
    if "close" in tokens:
        return False
    return "keep-alive" in tokens or not http10


def _drop_connection_fields(headers: Headers, connection: str) -> None:
    named = {token.strip() for token in connection.split(",")} - {"close", "keep-alive", ""}
    if named:
        headers.items = [item for item in headers.items if item[0] not in named]


def _split_target(request: RequestHead, target: str) -> None:
    if target[0] != "/":
        target = _origin_from_absolute(request, target)
    path, _, query = target.partition("?")
    request.raw_path = path
    request.query = query


def _origin_from_absolute(request: RequestHead, target: str) -> str:
    lowered = target[:8].lower()
    if lowered.startswith("http://"):
        rest = target[7:]
    elif lowered.startswith("https://"):
        rest = target[8:]
    else:
        raise _bad("invalid_target", "The request target must be an absolute path or an absolute URL.")
    cut = min((index for index in (rest.find("/"), rest.find("?")) if index >= 0), default=len(rest))
    authority, remainder = rest[:cut], rest[cut:]
    if "@" in authority:
        raise _bad("invalid_target", "User information is not allowed in the request target.")
    if request.host is None or authority.lower() != request.host.lower():
        raise _bad("host_mismatch", "The authority of the request target differs from the Host field.")
    if not remainder.startswith("/"):
        remainder = "/" + remainder
    return remainder


def diagnose_request_head(head: bytes) -> HttpError:
    """Explain why a request head failed the strict match (called only on the error path)."""
    line_end = head.find(b"\r\n")
    request_line = head[:line_end] if line_end >= 0 else head
    parts = request_line.split(b" ")
    version = parts[2] if len(parts) == 3 else b""
    if version not in (b"HTTP/1.0", b"HTTP/1.1") and re.fullmatch(rb"HTTP/[0-9]\.[0-9]", version):
        return HttpError(505, "unsupported_version", "Only HTTP/1.0 and HTTP/1.1 are supported.")
    if len(parts) != 3 or not parts[2].startswith(b"HTTP/"):
        return _bad("invalid_request_line", "The request line must be: method, target, HTTP version.")
    return diagnose_fields(head[line_end + 2:], "request")


def diagnose_fields(fields: bytes, kind: str) -> HttpError:
    """Name the first rule a block of field lines breaks."""
    if b"\r\n " in fields or b"\r\n\t" in fields or fields[:1] in (b" ", b"\t"):
        return _bad("obs_fold", "Folded header lines (obs-fold) are not allowed.")
    if re.search(rb"(?<!\r)\n|\r(?!\n)", fields):
        return _bad("invalid_line_ending", "Lines must end with CRLF; a bare CR or LF was found.")
    for line in fields.split(b"\r\n"):
        if not line or _FIELD_LINE_ONLY.fullmatch(line):
            continue
        name, colon, _ = line.partition(b":")
        if not colon:
            return _bad("invalid_header", "A header line has no colon.")
        if name.rstrip(b" \t") != name:
            return _bad("invalid_header_name", "Whitespace before the colon of a header is not allowed.")
        if not re.fullmatch(_TOKEN, name):
            return _bad("invalid_header_name", "A header name contains an invalid character.")
        return _bad("invalid_header_value", "A header value contains a control character.")
    return _bad("invalid_target", f"The {kind} target contains an invalid character.")


def parse_response_head(head: bytes) -> ResponseHead:
    """Parse an upstream response head; raise :class:`HttpError` (502) when it is invalid."""
    cached = _response_cache.get(head)
    if cached is not None:
        return cached.copy()
    response = _parse_response_head(head)
    if len(head) <= CACHE_MAX_HEAD:
        if len(_response_cache) >= CACHE_MAX_ENTRIES:
            _response_cache.clear()
        _response_cache[head] = response.copy()
    return response


def _parse_response_head(head: bytes) -> ResponseHead:
    match = _RESPONSE_HEAD.fullmatch(head)
    if match is None:
        raise HttpError(502, "bad_upstream_response", "The upstream sent an invalid response.")
    http10 = match.group(1) == b"0"
    response = ResponseHead(int(match.group(2)), "1.0" if http10 else "1.1", Headers())
    items = response.headers.items
    content_length: str | None = None
    transfer_encoding: str | None = None
    connection = ""

    for line in match.group(3).decode("latin-1").split("\r\n")[:-1]:
        name, _, value = line.partition(":")
        name = name.lower()
        value = value.strip(" \t")
        if name in _RESPONSE_DROPPED:
            if name == "content-length":
                if content_length is not None and content_length != value:
                    raise HttpError(502, "bad_upstream_response", "The upstream sent an invalid response.")
                content_length = value
            elif name == "transfer-encoding":
                transfer_encoding = value if transfer_encoding is None else f"{transfer_encoding},{value}"
            elif name == "connection":
                connection = f"{connection},{value.lower()}" if connection else value.lower()
            continue
        items.append((name, value))

    _frame_response(response, content_length, transfer_encoding)
    response.keep_alive = _keep_alive(connection, http10)
    if connection:
        _drop_connection_fields(response.headers, connection)
    return response


def _frame_response(
    response: ResponseHead, content_length: str | None, transfer_encoding: str | None
) -> None:
    try:
        if transfer_encoding is not None:
            if content_length is not None or transfer_encoding != "chunked" or response.version == "1.0":
                raise _bad("bad_upstream_response", "invalid framing")
            response.chunked = True
        elif content_length is not None:
            response.content_length = parse_content_length(content_length)
    except HttpError:
        raise HttpError(502, "bad_upstream_response", "The upstream sent an invalid response.") from None


class ChunkedDecoder:
    """Decode a chunked body incrementally and strictly; trailers are checked and dropped.

    ``feed`` returns the data pieces decoded so far. Once ``done`` is true, ``rest`` contains
    the bytes after the body, which belong to the next pipelined message.
    """

    __slots__ = ("_buffer", "_remaining", "_state", "done", "rest", "total")

    def __init__(self) -> None:
        self._buffer = b""
        self._remaining = 0
        self._state = 0  # 0 size line, 1 data, 2 CRLF after data, 3 trailer lines
        self.done = False
        self.rest = b""
        self.total = 0

    def feed(self, data: bytes) -> list[bytes]:
        pieces: list[bytes] = []
        buffer = self._buffer + data if self._buffer else data
        self._buffer = b""
        position = 0
        end = len(buffer)
        while position < end and not self.done:
            if self._state == 1:
                take = min(self._remaining, end - position)
                pieces.append(buffer[position:position + take])
                position += take
                self._remaining -= take
                if self._remaining == 0:
                    self._state = 2
                continue
            line_end = buffer.find(b"\r\n", position)
            if line_end < 0:
                if end - position > MAX_CHUNK_LINE or b"\n" in buffer[position:]:
                    raise _bad("invalid_chunk", "A chunk-size line is invalid.")
                self._buffer = buffer[position:]
                return pieces
            line = buffer[position:line_end]
            position = line_end + 2
            self._read_line(line)
        if self.done:
            self.rest = buffer[position:]
        return pieces

    def _read_line(self, line: bytes) -> None:
        if self._state == 2:
            if line:
                raise _bad("invalid_chunk", "Chunk data must be followed by CRLF.")
            self._state = 0
        elif self._state == 0:
            match = _CHUNK_SIZE_LINE.fullmatch(line)
            if match is None or b"\r" in line or b"\n" in line:
                raise _bad("invalid_chunk", "A chunk size must be hexadecimal digits only.")
            size = int(match.group(1), 16)
            self.total += size
            if size == 0:
                self._state = 3
            else:
                self._remaining = size
                self._state = 1
        elif not line:
            self.done = True
        elif _FIELD_LINE_ONLY.fullmatch(line) is None:
            raise _bad("invalid_trailer", "A trailer field is invalid.")


def serialize_head(first_line: str, headers: Headers, framing: str) -> bytes:
    """Build a head from a start line, header fields and the framing lines this side chose."""
    items = headers.items
    if not items:
        return f"{first_line}{framing}\r\n".encode("latin-1")
    # The fields before the last repeat from request to request, while the last one is often
    # per request (the forwarding rewrite appends X-Request-Id), so only the first ones are
    # memoised. The key is the fields themselves, so a hit returns exactly their text.
    key = tuple(items[:-1])
    block = _field_blocks.get(key)
    if block is None:
        # Each item is a (name, value) tuple, so ": ".join builds its line without a Python loop.
        block = "".join([line + "\r\n" for line in map(": ".join, key)])
        if len(_field_blocks) >= CACHE_MAX_ENTRIES:
            _field_blocks.clear()
        _field_blocks[key] = block
    name, value = items[-1]
    return f"{first_line}{block}{name}: {value}\r\n{framing}\r\n".encode("latin-1")


def encode_chunk(data: bytes) -> bytes:
    return b"%x\r\n%b\r\n" % (len(data), data)


LAST_CHUNK = b"0\r\n\r\n"

_REASONS = {
    204: "No Content", 400: "Bad Request", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
    408: "Request Timeout", 413: "Content Too Large", 417: "Expectation Failed",
    429: "Too Many Requests", 431: "Request Header Fields Too Large", 500: "Internal Server Error",
    502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout",
    505: "HTTP Version Not Supported", 301: "Moved Permanently", 308: "Permanent Redirect", 200: "OK",
}


def status_line(status: int) -> bytes:
    return b"HTTP/1.1 %d %s\r\n" % (status, _REASONS.get(status, "Status").encode("ascii"))


_STATUS_LINES = {status: status_line(status).decode("ascii") for status in range(100, 600)}


def status_line_text(status: int) -> str:
    """Return the status line as text; lines are pre-built for every status from 100 to 599."""
    return _STATUS_LINES[status]


def error_response(
    status: int,
    code: str,
    message: str,
    request_id: str,
    headers: list[tuple[str, str]] | None = None,
    close: bool = False,
) -> bytes:
    """Build the gateway's own JSON response: ``{"error", "message", "request_id"}``.

    A 1xx, 204 or 304 status carries no body (RFC 9110), so it gets the headers only.
    """
    out = bytearray(status_line(status))
    if status < 200 or status in (204, 304):
        body = b""
        out += b"x-request-id: %s\r\n" % request_id.encode("latin-1")
    else:
        body = orjson.dumps({"error": code, "message": message, "request_id": request_id})
        out += b"content-type: application/json\r\ncontent-length: %d\r\nx-request-id: %s\r\n" % (
            len(body), request_id.encode("latin-1"))
    for name, value in headers or ():
        out += f"{name}: {value}\r\n".encode("latin-1")
    if close:
        out += b"connection: close\r\n"
    out += b"\r\n"
    out += body
    return bytes(out)
