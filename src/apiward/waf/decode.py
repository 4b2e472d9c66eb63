"""Decoding of field values: each transform runs only when a quick check shows it can change the value.

:func:`decoded_variants` returns the texts the signatures are scanned over: the value itself and,
when decoding changed it, the fully decoded form and a few normalised forms, each with the chain
of transforms that produced it (``apiward waf explain`` prints that chain).
"""

from __future__ import annotations

import base64
import binascii
import html
import re
from urllib.parse import unquote

MAX_DECODE_PASSES = 4
"""Rounds of URL / HTML / unicode-escape decoding; double and triple encoding stay visible."""

_UNICODE_ESCAPE = re.compile(r"\\u\{?([0-9a-fA-F]{4})\}?|\\x([0-9a-fA-F]{2})|\\([nrt])")
_CONTROL_ESCAPES = {"n": "\n", "r": "\r", "t": "\t"}
_LOOSE_ENTITIES = {
    "tab": "\t",
    "newline": "\n",
    "colon": ":",
    "lpar": "(",
    "rpar": ")",
    "sol": "/",
    "bsol": "\\",
}
_LOOSE_ENTITY = re.compile(r"&(tab|newline|colon|lpar|rpar|sol|bsol);", re.IGNORECASE)
"""HTML5 named character references whose lower-case spelling some parsers also accept."""
_IIS_UNICODE = re.compile(r"%u([0-9a-fA-F]{4})")
_SQL_COMMENT = re.compile(r"/\*(!\d*)?(.*?)\*/", re.DOTALL)
"""A block comment; the text of a MySQL versioned comment (``/*!50000 select*/``) is executed, so kept."""
_BASE64_TEXT = re.compile(r"^[A-Za-z0-9+/_-]{16,}={0,2}$")
_SHELL_QUOTES = re.compile(r"""[\\'"^`]|\$@|\$\*|\$\(\)|[<>]\(\)|\$[!?#-]""")
_SHELL_IFS = re.compile(r"\$\{?IFS\}?|\$\{IFS%\?\?\}")
_WHITESPACE = re.compile(r"\s+")

Variant = tuple[str, tuple[str, ...]]
"""A text to scan and the names of the transforms that produced it from the raw value."""


def _replace_loose_entity(match: re.Match[str]) -> str:
    return _LOOSE_ENTITIES[match.group(1).lower()]


def _replace_code_point(match: re.Match[str]) -> str:
    return chr(int(match.group(1), 16))


def _replace_escape(match: re.Match[str]) -> str:
    if match.group(3):
        return _CONTROL_ESCAPES[match.group(3)]
    return chr(int(match.group(1) or match.group(2), 16))


def decode_once(text: str) -> tuple[str, tuple[str, ...]]:
    """Apply URL, HTML-entity and unicode-escape decoding once each where they apply."""
    applied: list[str] = []
    if "%" in text:
        decoded = unquote(_IIS_UNICODE.sub(_replace_code_point, text), errors="replace")
        if decoded != text:
            text = decoded
            applied.append("url")
    if "&" in text:
        decoded = html.unescape(_LOOSE_ENTITY.sub(_replace_loose_entity, text))
        if decoded != text:
            text = decoded
            applied.append("html")
    if "\\" in text:
        decoded = _UNICODE_ESCAPE.sub(_replace_escape, text)
        if decoded != text:
            text = decoded
            applied.append("unicode-escape")
    return text, tuple(applied)


def decode_fully(text: str) -> tuple[str, tuple[str, ...]]:
    """Repeat :func:`decode_once` until nothing changes or ``MAX_DECODE_PASSES`` is reached."""
    chain: tuple[str, ...] = ()
    for _ in range(MAX_DECODE_PASSES):
        text, applied = decode_once(text)
        if not applied:
            break
        chain += applied
    return text, chain


_HEX_OR_DASH = re.compile(r"[0-9a-fA-F-]*")
_NOT_BASE64 = re.compile(r"[ \t\r\n.,:;!?()\[\]{}<>@#&*'\"]")


def maybe_base64(text: str) -> bool:
    """Say cheaply whether ``text`` could be base64 worth decoding (not a UUID or hex digest)."""
    return (
        len(text) >= 16
        and not text.islower()
        and not text.isupper()
        and _NOT_BASE64.search(text) is None
        and _HEX_OR_DASH.fullmatch(text) is None
    )


def base64_text(text: str) -> str | None:
    """Return the decoded text of a base64 (or base64url) value that decodes to printable text."""
    if not _BASE64_TEXT.match(text):
        return None
    stripped = text.rstrip("=")
    padded = stripped + "=" * (-len(stripped) % 4)
    try:
        raw = base64.b64decode(padded.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        return None
    try:
        decoded = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    printable = sum(1 for char in decoded if char.isprintable() or char in "\r\n\t")
    if printable < len(decoded) * 0.95:
        return None
    return decoded


def _comment_as_space(match: re.Match[str]) -> str:
    return f" {match.group(2)} " if match.group(1) is not None else " "


def _comment_removed(match: re.Match[str]) -> str:
    return match.group(2) if match.group(1) is not None else ""


def decoded_variants(value: str) -> list[Variant]:
    """Return the raw value and every distinct decoded or normalised form worth scanning."""
    variants: list[Variant] = [(value, ())]
    decoded, chain = decode_fully(value) if ("%" in value or "&" in value or "\\" in value) else (value, ())
    if chain:
        variants.append((decoded, chain))
    if "\x00" in decoded:
        decoded = decoded.replace("\x00", "")
        chain += ("remove-nulls",)
        variants.append((decoded, chain))
    if "/*" in decoded and "*/" in decoded:
        spaced = _SQL_COMMENT.sub(_comment_as_space, decoded)
        variants.append((_WHITESPACE.sub(" ", spaced), (*chain, "sql-comments", "compress-whitespace")))
        joined = _SQL_COMMENT.sub(_comment_removed, decoded)
        variants.append((joined, (*chain, "sql-comments-joined")))
    if _SHELL_QUOTES.search(decoded) or "IFS" in decoded:
        unquoted = _SHELL_QUOTES.sub("", _SHELL_IFS.sub(" ", decoded))
        variants.append((unquoted, (*chain, "shell-quote-removal")))
    if maybe_base64(decoded) and (text := base64_text(decoded)) is not None:
        inner, inner_chain = decode_fully(text)
        variants.append((inner, (*chain, "base64", *inner_chain)))
    return variants
