"""Path normalisation and route matching.

Every request path goes through :func:`normalize_path` before routing and before any stage
reads it, and the upstream receives the normalised path. The rules, chosen so that no upstream
that decodes the path once (or strips ``;`` parameters the way Tomcat does) can see a path other
than the one the gateway checked:

- Escapes of unreserved characters (``ALPHA DIGIT - . _ ~``) are decoded; every other escape is
  kept with upper-case hex digits. Characters outside RFC 3986 ``pchar`` are percent-encoded, and
  raw non-ASCII bytes are kept as escapes once they pass the UTF-8 check.
- Dot segments are removed after that decoding, so ``%2e%2e`` and ``.%2E`` count as ``..``.
  A segment whose part before the first ``;`` is ``.`` or ``..`` is a dot segment too, because
  Tomcat-style servers drop path parameters before resolving dots (``/..;/admin``).
- ``..`` above the root is rejected, not clamped: no client needs it, and a rejection is a
  security event an operator can see.
- Empty segments are collapsed (``//admin`` becomes ``/admin``); a trailing slash is kept.
- ``%2F`` stays encoded and is reported to the caller, because a route must allow it.
  ``.`` or ``..`` between encoded slashes or before an encoded ``;`` is rejected, because an
  upstream that decodes the path would resolve it.
- Rejected with :class:`PathError`: a raw or encoded backslash, NUL and other control
  characters, overlong or otherwise invalid UTF-8, and malformed escapes such as ``%zz`` or ``%4``.
  Double encoding (``%25`` followed by two hex digits, as in ``%252e``) is rejected too, because
  an upstream that decodes twice would turn it into a traversal.

:class:`RouteTable` matches the normalised path against route prefixes and templates.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    from apiward.policy.model import Match

T = TypeVar("T")

_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_RAW_ALLOWED = _UNRESERVED | frozenset("!$&'()*+,;=:@/")

# Paths made only of safe characters, without escapes, empty segments or segments starting with
# a dot, are already normalised; most API paths take this branch.
_ALREADY_NORMAL = re.compile(r"(?:/[A-Za-z0-9_~!$&'()*+,;=:@-][A-Za-z0-9._~!$&'()*+,;=:@-]*)+/?|/")
# A run of characters kept as they are (group 1), a valid escape (group 2), or any other single
# character, which includes a '%' that does not start a valid escape.
_PATH_TOKENS = re.compile(r"([A-Za-z0-9._~!$&'()*+,;=:@/-]+)|%([0-9A-Fa-f]{2})|.", re.DOTALL)
_DOUBLE_ENCODED = re.compile(r"%25[0-9A-Fa-f]{2}")
_ENCODED_SLASH = re.compile(r"%2F", re.IGNORECASE)
_PARAMETER_START = re.compile(r";|%3B", re.IGNORECASE)
_DUPLICATE_SLASHES = re.compile(r"//+")
_TEMPLATE_PARAMETER = re.compile(r"%7B([A-Za-z_][A-Za-z0-9_]*)%7D")


class PathError(Exception):
    """A request path the gateway rejects; the proxy responds 400 with ``code`` and ``message``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def normalize_path(raw_path: str) -> tuple[str, bool]:
    """Normalise the path part of a request target (latin-1 text, before ``?``).

    Returns the normalised path and whether it contains an encoded slash (``%2F``).
    Raises :class:`PathError` for the inputs listed in the module documentation.
    """
    if _ALREADY_NORMAL.fullmatch(raw_path):
        return raw_path, False
    if not raw_path.startswith("/"):
        raise PathError("invalid_path", "The request path must start with '/'.")
    path = _remove_dot_segments(_canonicalize_escapes(raw_path))
    if "%25" in path and _DOUBLE_ENCODED.search(path):
        raise PathError("double_encoding", "The request path contains a double percent-encoding.")
    return path, "%2F" in path


def _canonicalize_escapes(raw_path: str) -> str:
    """Decode unreserved escapes, upper-case the others and encode characters outside pchar."""
    output: list[str] = []
    pending = bytearray()  # a run of non-ASCII bytes, checked as UTF-8 when the run ends
    for token in _PATH_TOKENS.finditer(raw_path):
        text = token.group()
        if token.lastindex == 1:  # a run of characters allowed as they are
            _flush_utf8(pending, output)
            output.append(text)
            continue
        if token.lastindex == 2:
            byte = int(token.group(2), 16)
        elif text == "%":
            raise _invalid_escape(raw_path, token.start())
        else:
            byte = ord(text)
            if byte > 0xFF:
                raise PathError("invalid_character", "The request path contains a non-latin-1 character.")
            if byte < 0x80:
                _check_ascii_byte(byte, encoded=False)
                _flush_utf8(pending, output)
                output.append(f"%{byte:02X}")
                continue
        if byte >= 0x80:
            pending.append(byte)
            continue
        _flush_utf8(pending, output)
        _check_ascii_byte(byte, encoded=True)
        output.append(chr(byte) if chr(byte) in _UNRESERVED else f"%{byte:02X}")
    _flush_utf8(pending, output)
    return "".join(output)


def _invalid_escape(text: str, index: int) -> PathError:
    escape = text[index : index + 3]
    return PathError("invalid_escape", f"The request path contains an invalid percent-escape {escape!r}.")


def _check_ascii_byte(byte: int, *, encoded: bool) -> None:
    if byte == 0:
        raise PathError("null_byte", "The request path contains a NUL byte.")
    if byte < 0x20 or byte == 0x7F:
        raise PathError("control_character", "The request path contains a control character.")
    if byte == 0x5C:
        if encoded:
            raise PathError("encoded_backslash", "The request path contains an encoded backslash (%5C).")
        raise PathError("backslash", "The request path contains a backslash.")


def _flush_utf8(pending: bytearray, output: list[str]) -> None:
    if not pending:
        return
    try:
        pending.decode("utf-8")
    except UnicodeDecodeError:
        if _is_overlong(bytes(pending)):
            raise PathError(
                "overlong_utf8", "The request path contains an overlong UTF-8 sequence."
            ) from None
        raise PathError("invalid_utf8", "The request path is not valid UTF-8.") from None
    # bytes(), because mypyc 2.4 fails with an internal error when it iterates a bytearray.
    for byte in bytes(pending):
        output.append(f"%{byte:02X}")
    pending.clear()


def _is_overlong(data: bytes) -> bool:
    """Tell whether ``data`` contains an overlong UTF-8 form, such as C0 AE for '.'."""
    for index, byte in enumerate(data):
        if byte in (0xC0, 0xC1):
            return True
        following = data[index + 1] if index + 1 < len(data) else None
        if following is None:
            continue
        if byte == 0xE0 and 0x80 <= following <= 0x9F:
            return True
        if byte == 0xF0 and 0x80 <= following <= 0x8F:
            return True
    return False


def _remove_dot_segments(path: str) -> str:
    resolved: list[str] = []
    trailing_slash = False
    for segment in path.split("/")[1:]:
        trailing_slash = True
        if not segment:
            continue
        name = segment.partition(";")[0]
        if name == ".":
            continue
        if name == "..":
            if not resolved:
                raise PathError("path_above_root", "The request path goes above the root with '..'.")
            resolved.pop()
            continue
        if "%" in segment:
            _check_encoded_dot_segments(segment)
        resolved.append(segment)
        trailing_slash = False
    if not resolved:
        return "/"
    return "/" + "/".join(resolved) + ("/" if trailing_slash else "")


def _check_encoded_dot_segments(segment: str) -> None:
    """Reject dot segments that an upstream would see once it decodes ``%2F`` or ``%3B``."""
    for piece in _ENCODED_SLASH.split(segment):
        name = _PARAMETER_START.split(piece, maxsplit=1)[0]
        if name in (".", ".."):
            raise PathError(
                "encoded_traversal", "The request path contains a dot segment next to an encoded separator."
            )


def route_key(path: str, *, split_encoded_slashes: bool) -> str:
    """Return the form of a normalised path that routes and path rules compare against.

    ``;`` parameters are removed from each segment and empty segments collapsed, because
    Tomcat-style upstreams serve ``/admin;x`` as ``/admin``. With ``split_encoded_slashes``,
    ``%2F`` counts as a separator, because an upstream that decodes it serves ``/admin%2Fx`` as
    ``/admin/x``.
    NOTE: trailing dots and encoded spaces in a segment are kept. An upstream that strips them,
    as Windows-hosted servers may do with ``/admin.``, can still be reached past a rule on
    ``/admin``.
    """
    key = path
    if ";" in key:
        key = "/".join(segment.partition(";")[0] for segment in key.split("/"))
    if split_encoded_slashes:
        key = _ENCODED_SLASH.sub("/", key)
    if "//" in key:
        key = _DUPLICATE_SLASHES.sub("/", key)
    return key


@dataclass(frozen=True)
class _Entry:
    methods: frozenset[str] | None
    case_sensitive: bool
    allow_encoded_slashes: bool
    prefix: str | None
    """Plain prefix without a trailing slash ("" for the root); None when ``pattern`` is set."""
    pattern: re.Pattern[str] | None
    payload: Any
    """The route table's payload (its ``T``); mypyc cannot compile a generic dataclass."""
    first_segment: str | None
    """Lower-case literal first segment of the path; None for the root and a parameter there."""


class RouteTable(Generic[T]):
    """Routes compiled for matching; the first entry that matches method and path wins.

    ``Match.path`` is a prefix that respects segment boundaries, so ``/api`` matches ``/api`` and
    ``/api/x`` but not ``/apix``, and ``/`` matches every path. It may also be a template with
    ``{name}`` segments, which is a prefix too: ``/users/{id}`` matches ``/users/7/orders``.
    Paths match case-insensitively unless ``Match.case_sensitive`` is set.
    """

    def __init__(self, entries: Sequence[tuple[Match, bool, T]]) -> None:
        self._entries = tuple(_compile_entry(match, allow, payload) for match, allow, payload in entries)
        # Candidate entries by the first path segment (lower-case), in table order, so a request
        # tests only the routes that can match it. Entries whose first segment is a template
        # parameter, and the root prefix, are candidates for every path.
        buckets: dict[str, list[int]] = {}
        anywhere: list[int] = []
        for index, entry in enumerate(self._entries):
            if entry.first_segment is None:
                anywhere.append(index)
            else:
                buckets.setdefault(entry.first_segment, []).append(index)
        self._anywhere = tuple(self._entries[index] for index in anywhere)
        self._by_first_segment = {
            segment: tuple(self._entries[index] for index in sorted({*indexes, *anywhere}))
            for segment, indexes in buckets.items()
        }

    def match(self, method: str, path: str) -> tuple[T, dict[str, str]] | None:
        """Find the route for a normalised path and return its payload and path parameters.

        Raises :class:`PathError` ``encoded_slash`` when the path contains ``%2F`` and the
        matching route does not allow encoded slashes. That route is found with ``%2F`` read
        as ``/``, so an encoded slash cannot move a request to a more permissive route.
        """
        if "%2F" in path or "%2f" in path:
            return self._match_with_encoded_slash(method, path)
        cased = route_key(path, split_encoded_slashes=False)
        lowered = cased.lower()
        first_segment = lowered[1:].partition("/")[0]
        for entry in self._by_first_segment.get(first_segment, self._anywhere):
            if entry.methods is not None and method not in entry.methods:
                continue
            params = _match_entry(entry, cased if entry.case_sensitive else lowered, cased)
            if params is not None:
                return entry.payload, params
        return None

    def _match_with_encoded_slash(self, method: str, path: str) -> tuple[T, dict[str, str]] | None:
        keys: dict[bool, tuple[str, str]] = {}
        for entry in self._entries:
            if entry.methods is not None and method not in entry.methods:
                continue
            split = not entry.allow_encoded_slashes
            pair = keys.get(split)
            if pair is None:
                cased = route_key(path, split_encoded_slashes=split)
                pair = keys[split] = (cased, cased.lower())
            cased, lowered = pair
            params = _match_entry(entry, cased if entry.case_sensitive else lowered, cased)
            if params is None:
                continue
            if split:
                raise PathError(
                    "encoded_slash",
                    "The request path contains an encoded slash (%2F), which this route rejects.",
                )
            return entry.payload, params
        return None


def _match_entry(entry: _Entry, key: str, cased: str) -> dict[str, str] | None:
    if entry.pattern is None:
        prefix = entry.prefix or ""
        if key.startswith(prefix) and (len(key) == len(prefix) or key[len(prefix)] == "/"):
            return {}
        return None
    found = entry.pattern.match(key)
    if found is None:
        return None
    if len(cased) != len(key):
        return found.groupdict()
    return {name: cased[found.start(name) : found.end(name)] for name in found.groupdict()}


def _compile_entry(match: Match, allow_encoded_slashes: bool, payload: T) -> _Entry:
    if any(segment in (".", "..") for segment in match.path.split("/")):
        raise ValueError(f"route path {match.path!r} contains a dot segment; write the path it resolves to")
    try:
        # Policy files are Unicode text; requests arrive as bytes read as latin-1.
        normal, _ = normalize_path(match.path.encode("utf-8").decode("latin-1"))
    except PathError as error:
        raise ValueError(f"route path {match.path!r} is invalid: {error.message}") from None
    key = route_key(normal, split_encoded_slashes=False)
    if len(key) > 1:
        key = key.rstrip("/")
    methods = frozenset(match.methods) if match.methods is not None else None
    first_segment: str | None = key[1:].partition("/")[0]
    if not first_segment or _TEMPLATE_PARAMETER.search(first_segment):
        first_segment = None
    else:
        first_segment = first_segment.lower()
    if not _TEMPLATE_PARAMETER.search(key):
        prefix = "" if key == "/" else key
        if not match.case_sensitive:
            prefix = prefix.lower()
        return _Entry(
            methods, match.case_sensitive, allow_encoded_slashes, prefix, None, payload, first_segment
        )
    pattern = _template_pattern(key, case_sensitive=match.case_sensitive)
    return _Entry(
        methods, match.case_sensitive, allow_encoded_slashes, None, pattern, payload, first_segment
    )


def _template_pattern(key: str, *, case_sensitive: bool) -> re.Pattern[str]:
    """Compile a template such as ``/users/%7Bid%7D`` (braces are encoded by normalisation)."""
    parts: list[str] = []
    names: set[str] = set()
    position = 0
    for found in _TEMPLATE_PARAMETER.finditer(key):
        literal = key[position : found.start()]
        parts.append(re.escape(literal if case_sensitive else literal.lower()))
        name = found.group(1)
        if name in names:
            raise ValueError(f"route path parameter {{{name}}} appears twice")
        names.add(name)
        parts.append(f"(?P<{name}>[^/]+)")
        position = found.end()
    tail = key[position:]
    parts.append(re.escape(tail if case_sensitive else tail.lower()))
    return re.compile("".join(parts) + "(?=/|$)")
