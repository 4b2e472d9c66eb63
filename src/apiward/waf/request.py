"""The request view the engine inspects, and a parser for raw HTTP/1.1 request bytes.

The gateway builds :class:`HttpRequest` from its own parsed exchange; ``apiward waf explain``
and the corpus measurements build it from raw bytes with :func:`parse_raw_request`.
"""

from __future__ import annotations

import re


class RequestParseError(ValueError):
    """Raw bytes that are not an HTTP/1.x request this parser can read."""


class HttpRequest:
    """Method, target, headers (lower-case names, in order) and the body as received.

    A plain class rather than a dataclass: the gateway builds one per request, and a compiled
    constructor costs a fraction of the generated dataclass one.
    """

    __slots__ = ("body", "headers", "method", "path", "query")

    def __init__(
        self,
        method: str,
        path: str,
        query: str = "",
        headers: list[tuple[str, str]] | None = None,
        body: bytes = b"",
    ) -> None:
        self.method = method
        self.path = path
        """The path as sent on the request line, percent-encoding kept."""
        self.query = query
        """The raw query string without the leading ``?``."""
        self.headers: list[tuple[str, str]] = headers if headers is not None else []
        self.body = body

    def __repr__(self) -> str:
        return (f"HttpRequest(method={self.method!r}, path={self.path!r}, query={self.query!r}, "
                f"headers={self.headers!r}, body={self.body!r})")

    def header(self, name: str) -> str | None:
        """Return the first value of header ``name`` (lower-case), or None."""
        for key, value in self.headers:
            if key == name:
                return value
        return None

    @classmethod
    def from_target(
        cls, method: str, target: str, headers: list[tuple[str, str]], body: bytes = b""
    ) -> HttpRequest:
        """Build a request from a request-target such as ``/a/b?x=1`` and header pairs."""
        path, _, query = target.partition("?")
        path, _, _fragment = path.partition("#")
        return cls(method.upper(), path or "/", query, [(k.lower(), v) for k, v in headers], body)


_METHOD = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
"""An HTTP method is a token (RFC 9110, section 5.6.2)."""


def parse_raw_request(data: bytes) -> HttpRequest:
    """Parse one raw HTTP/1.x request (head and body) as a client sent it.

    The body is taken as framed by Content-Length or chunked transfer coding; without either,
    whatever follows the head is the body.
    """
    head, sep, rest = data.partition(b"\r\n\r\n")
    if not sep:
        head, sep, rest = data.partition(b"\n\n")
    lines = head.decode("latin-1").replace("\r\n", "\n").split("\n")
    parts = lines[0].split(" ")
    if len(parts) < 2 or not _METHOD.fullmatch(parts[0]) or not parts[1]:
        raise RequestParseError(f"invalid request line {lines[0][:80]!r}; expected 'METHOD target HTTP/1.1'")
    method, target = parts[0], parts[1]
    if not (target[0] in "/*" or "://" in target or method.upper() == "CONNECT"):
        raise RequestParseError(
            f"invalid request target {target[:80]!r}; expected /path, *, or an absolute URL"
        )
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        if not line:
            continue
        name, colon, value = line.partition(":")
        if not colon:
            raise RequestParseError(f"invalid header line {line[:80]!r}; expected 'Name: value'")
        headers.append((name.strip(), value.strip()))
    body = rest
    lowered = {name.lower(): value for name, value in headers}
    if "chunked" in lowered.get("transfer-encoding", "").lower():
        body = _dechunk(rest)
    elif (length := lowered.get("content-length", "").strip()).isdigit():
        body = rest[: int(length)]
    return HttpRequest.from_target(method, target, headers, body)


def _dechunk(data: bytes) -> bytes:
    chunks: list[bytes] = []
    position = 0
    while position < len(data):
        line_end = data.find(b"\r\n", position)
        if line_end < 0:
            break
        size_text = data[position:line_end].split(b";")[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise RequestParseError(f"invalid chunk size {size_text[:20]!r}") from None
        if size == 0:
            break
        chunks.append(data[line_end + 2 : line_end + 2 + size])
        position = line_end + 2 + size + 2
    return b"".join(chunks)
