"""Body parsing for inspection: JSON, form, multipart, XML and GraphQL, after content decoding.

A body is inspected for what it is, whatever its Content-Type claims: JSON sent as ``text/plain``
is parsed as JSON, a UTF-16 body is decoded first. A body that cannot be parsed as the shape it
claims is inspected as plain text and recorded as an anomaly, never skipped.
"""

from __future__ import annotations

import re
import zlib
from typing import Any
from xml.etree.ElementTree import Element, ParseError

import orjson
from defusedxml import DefusedXmlException  # type: ignore[import-untyped]
from defusedxml.ElementTree import fromstring as parse_xml  # type: ignore[import-untyped]

from apiward.waf.fields import KEY_PREFIX, Extraction, add_pairs
from apiward.waf.graphql import inspect_graphql
from apiward.waf.protocol import ACCEPT_CHARSETS, check_form_session
from apiward.waf.request import HttpRequest

POLLUTING_KEYS = frozenset({"__proto__", "constructor", "prototype"})
QUERY_OPERATOR_KEYS = frozenset(
    {
        "$ne",
        "$eq",
        "$gt",
        "$gte",
        "$lt",
        "$lte",
        "$in",
        "$nin",
        "$regex",
        "$where",
        "$exists",
        "$expr",
        "$or",
        "$and",
        "$not",
        "$nor",
        "$elemmatch",
        "$all",
        "$size",
        "$type",
        "$mod",
        "$text",
        "$function",
        "$accumulator",
        "$jsonschema",
        "$lookup",
    }
)
"""MongoDB query operators; as JSON keys in a request body they turn a value into a condition."""
_CHARSET = re.compile(r"charset\s*=\s*\"?([A-Za-z0-9_.:-]+)", re.IGNORECASE)
_BOUNDARY = re.compile(r"boundary\s*=\s*(?:\"([^\"]{1,70})\"|([^\s;,]{1,70}))", re.IGNORECASE)
_FORM_SHAPE = re.compile(rb"^[^=&\s{}<>\[\]\"]*=[^\s]*$", re.DOTALL)
_PLAIN_KEYS: dict[str, bool] = {}
"""Verdicts of :func:`_is_plain_key` for keys already seen; API bodies repeat the same few keys."""
_PLAIN_KEYS_MAX = 10_000
_UNSAFE_PART_NAME = re.compile(r"[\"';=&\\]")
_DISPOSITION_PARAM = re.compile(r';\s*([A-Za-z*]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;\s]*))')


def extract_body(request: HttpRequest, body: bytes, extraction: Extraction) -> None:
    """Add the fields of ``body``, decoded and parsed according to what it really is."""
    if not body:
        return
    if request.method in ("GET", "HEAD"):
        extraction.anomaly("body_not_allowed", "protocol", "body", f"{request.method} request with a body")
    limits = extraction.limits
    if len(body) > limits.max_body_bytes:
        extraction.limit(
            "body_too_large", "body", f"body of {len(body)} bytes is over {limits.max_body_bytes}"
        )
        body = body[: limits.max_body_bytes]
    content_type = (request.header("content-type") or "").lower()
    if not content_type:
        message = "request has a body but no Content-Type"
        extraction.anomaly("missing_content_type", "protocol", "header.content-type", message)
    encoding = (request.header("content-encoding") or "").strip().lower()
    if encoding and encoding != "identity":
        decoded = _decompress(body, encoding, limits.max_body_bytes, extraction)
        if decoded is None:
            return
        body = decoded
    text = _decode_text(body, content_type, extraction)
    _dispatch(request, content_type, body, text, extraction)


def _decompress(body: bytes, encoding: str, limit: int, extraction: Extraction) -> bytes | None:
    if encoding in ("gzip", "x-gzip"):
        window = 16 + zlib.MAX_WBITS
    elif encoding == "deflate":
        window = zlib.MAX_WBITS if body[:1] == b"\x78" else -zlib.MAX_WBITS
    else:
        extraction.anomaly(
            "unsupported_content_encoding",
            "protocol",
            "header.content-encoding",
            f"content encoding {encoding!r} cannot be inspected",
        )
        return None
    decompressor = zlib.decompressobj(window)
    try:
        data = decompressor.decompress(body, limit + 1)
    except zlib.error as error:
        extraction.anomaly(
            "invalid_content_encoding", "protocol", "body", f"invalid {encoding} body: {error}"
        )
        return None
    if len(data) > limit or decompressor.unconsumed_tail:
        extraction.limit("body_too_large", "body", f"{encoding} body expands past {limit} bytes")
        return data[:limit]
    return data


def _decode_text(body: bytes, content_type: str, extraction: Extraction) -> str:
    charset_match = _CHARSET.search(content_type)
    charset = charset_match.group(1).lower() if charset_match else ""
    if body[:2] in (b"\xff\xfe", b"\xfe\xff") or charset.startswith("utf-16") or charset.startswith("utf-32"):
        codec = charset if charset.startswith("utf-32") else "utf-16"
        try:
            return body.decode(codec)
        except (UnicodeDecodeError, LookupError):
            extraction.anomaly("invalid_charset", "protocol", "body", f"body is not valid {codec}")
    return body.decode("utf-8", "replace") if not body.isascii() else body.decode("ascii")


def _dispatch(
    request: HttpRequest, content_type: str, body: bytes, text: str, extraction: Extraction
) -> None:
    stripped = text.lstrip()
    head = stripped[:1]
    graphql = "graphql" in request.path.lower() or "graphql" in content_type
    if "multipart/" in content_type:
        extract_multipart(request.header("content-type") or "", body, extraction)
    elif head in ("{", "[") and _extract_json(
        stripped, extraction, defer=extraction.defer_plain_json and not graphql
    ):
        if graphql:
            inspect_graphql(stripped, extraction, is_json=True)
    elif "graphql" in content_type:
        extraction.add("body", text)
        inspect_graphql(stripped, extraction, is_json=False)
    elif head == "<" and (
        "xml" in content_type or stripped.startswith("<?xml") or "<!doctype" in stripped[:200].lower()
    ):
        extract_xml(stripped, extraction)
    elif "x-www-form-urlencoded" in content_type or _FORM_SHAPE.match(body):
        add_pairs(extraction, "body", text)
        check_form_session(request, text, extraction)
    else:
        extraction.add("body", text)


def _extract_json(text: str, extraction: Extraction, *, defer: bool) -> bool:
    try:
        document = orjson.loads(text)
    except orjson.JSONDecodeError:
        return False
    if defer and _within_limits(text, extraction):
        strings: list[str] = []
        json_strings(document, strings)
        extraction.deferred_json = (document, strings)
    else:
        walk_json(document, "$", 0, extraction)
    return True


def _within_limits(text: str, extraction: Extraction) -> bool:
    """Say whether the walk of JSON ``text`` cannot reach the depth or field-count limit.

    Each string adds at most one field and has two quotes, so the quote count is an upper bound.
    """
    limits = extraction.limits
    if text.count("{") + text.count("[") > limits.max_depth:
        return False
    return len(extraction.values) + text.count('"') // 2 <= limits.max_fields


def walk_json(node: Any, path: str, depth: int, extraction: Extraction) -> None:
    """Add the string leaves under ``node``; numbers, booleans and nulls carry no payload."""
    if depth > extraction.limits.max_depth:
        extraction.limit("json_too_deep", path, f"JSON nested deeper than {extraction.limits.max_depth}")
        return
    if type(node) is dict:
        for key, value in node.items():
            if not _plain_key(key):
                _check_key(key, path, extraction)
                extraction.add(f"{KEY_PREFIX}{path}.{key}", key)
            kind = type(value)
            if kind is str:
                extraction.add(f"body.{path}.{key}", value)
            elif kind is dict or kind is list:
                walk_json(value, f"{path}.{key}", depth + 1, extraction)
    elif type(node) is list:
        for index, value in enumerate(node):
            kind = type(value)
            if kind is str:
                extraction.add(f"body.{path}[{index}]", value)
            elif kind is dict or kind is list:
                walk_json(value, f"{path}[{index}]", depth + 1, extraction)
    elif type(node) is str:
        extraction.add(f"body.{path}", node)


def json_strings(node: Any, strings: list[str]) -> None:
    """Collect the strings that :func:`walk_json` adds as fields: string values and non-plain keys."""
    # Leaves are tested in the loops, not by recursing into them: a call per number or boolean
    # leaf cost about 4 µs more per 1 KB body (bench/gateway_python_cost.py post).
    if type(node) is dict:
        for key, value in node.items():
            if not _plain_key(key):
                strings.append(key)
            kind = type(value)
            if kind is str:
                strings.append(value)
            elif kind is dict or kind is list:
                json_strings(value, strings)
    elif type(node) is list:
        for value in node:
            kind = type(value)
            if kind is str:
                strings.append(value)
            elif kind is dict or kind is list:
                json_strings(value, strings)
    elif type(node) is str:
        strings.append(node)


def _plain_key(key: str) -> bool:
    plain = _PLAIN_KEYS.get(key)
    if plain is None:
        plain = _is_plain_key(key)
        if len(_PLAIN_KEYS) < _PLAIN_KEYS_MAX:
            _PLAIN_KEYS[key] = plain
    return plain


def _is_plain_key(key: str) -> bool:
    """Say whether a key is a lower-case identifier, the usual API key name, which cannot hide a payload."""
    if not key.isidentifier() or key in POLLUTING_KEYS or "__proto__" in key:
        return False
    return len(key) < 8 or key.islower()


def _check_key(key: str, path: str, extraction: Extraction) -> None:
    if key[:1] == "$" and key.lower() in QUERY_OPERATOR_KEYS:
        extraction.anomaly(
            "query_operator_key",
            "nosqli",
            f"body.{path}.{key}",
            f"JSON key {key!r} is a database query operator",
        )
        return
    if (
        key in POLLUTING_KEYS
        or "__proto__" in key
        or "constructor.prototype" in key
        or "constructor[prototype]" in key
    ):
        extraction.anomaly(
            "prototype_pollution_key",
            "prototype-pollution",
            f"body.{path}.{key}",
            f"JSON key {key!r} can pollute object prototypes",
        )


def extract_xml(text: str, extraction: Extraction) -> None:
    """Add the text and attribute values of an XML body; DTDs and entities are refused."""
    try:
        root = parse_xml(text, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as error:
        extraction.anomaly(
            "xml_dtd", "xxe", "body", f"XML body declares a DTD or entity ({type(error).__name__})"
        )
        extraction.add("body", text)
        return
    except (ParseError, ValueError):
        extraction.anomaly("invalid_xml", "protocol", "body", "XML body is not well-formed", score=3)
        extraction.add("body", text)
        return
    _walk_xml(root, "", 0, extraction)


def _walk_xml(element: Element, parent: str, depth: int, extraction: Extraction) -> None:
    path = f"{parent}/{element.tag}"
    if depth > extraction.limits.max_depth:
        extraction.limit(
            "xml_too_deep", f"xml.{path}", f"XML nested deeper than {extraction.limits.max_depth}"
        )
        return
    for name, value in element.attrib.items():
        extraction.add(f"xml.{path}@{name}", value)
    if element.text and element.text.strip():
        extraction.add(f"xml.{path}", element.text)
    for child in element:
        _walk_xml(child, path, depth + 1, extraction)
        if child.tail and child.tail.strip():
            extraction.add(f"xml.{path}", child.tail)


def extract_multipart(content_type: str, body: bytes, extraction: Extraction) -> None:
    """Add part names, filenames and values of a multipart body, parsed strictly."""
    match = _BOUNDARY.search(content_type)
    if match is None:
        extraction.anomaly(
            "multipart_no_boundary", "protocol", "header.content-type", "multipart body without a boundary"
        )
        extraction.add("body", body.decode("utf-8", "replace"))
        return
    delimiter = b"--" + (match.group(1) or match.group(2)).encode("latin-1")
    chunks = body.split(delimiter)
    if chunks[0].strip() or len(chunks) < 3 or not chunks[-1].startswith(b"--"):
        extraction.anomaly(
            "multipart_invalid", "protocol", "body", "multipart body does not follow its boundary"
        )
    for index, chunk in enumerate(chunks[1:-1] if len(chunks) > 2 else chunks[1:]):
        _extract_part(chunk, index, extraction)


def _extract_part(chunk: bytes, index: int, extraction: Extraction) -> None:
    if chunk.startswith(b"\r\n"):
        chunk = chunk[2:]
    head, separator, content = chunk.partition(b"\r\n\r\n")
    if not separator:
        extraction.anomaly(
            "multipart_invalid", "protocol", f"multipart[{index}]", "multipart part without headers"
        )
        extraction.add(f"multipart[{index}]", chunk.decode("utf-8", "replace"))
        return
    if content.endswith(b"\r\n"):
        content = content[:-2]
    name = f"[{index}]"
    for line in head.decode("utf-8", "replace").split("\r\n"):
        header, _, value = line.partition(":")
        if header.strip().lower() != "content-disposition":
            extraction.add(f"multipart{name}.header", value.strip())
            charset = _CHARSET.search(value)
            # A form part in UTF-16 or UTF-32 hides its text from byte-oriented filters.
            if charset is not None and charset.group(1).lower() not in ACCEPT_CHARSETS:
                extraction.anomaly(
                    "charset_not_allowed",
                    "protocol",
                    f"multipart{name}.header",
                    "part charset is not allowed",
                )
            continue
        params = {key.lower(): quoted or plain for key, quoted, plain in _DISPOSITION_PARAM.findall(value)}
        if value.count("filename") > 1 or value.count("name=") > 2:
            extraction.anomaly(
                "multipart_ambiguous", "protocol", f"multipart{name}", "repeated disposition parameter"
            )
        name = params.get("name", name)
        extraction.add("multipart-name", name)
        if _UNSAFE_PART_NAME.search(name) or _UNSAFE_PART_NAME.search(params.get("filename", "")):
            extraction.anomaly(
                "multipart_name",
                "protocol",
                f"multipart.{name}",
                "part name or filename has quote, =, ; or & in it",
            )
        for key in ("filename", "filename*"):
            if key in params:
                extraction.add(f"multipart.{name}.filename", params[key])
    text = content.decode("utf-8", "replace")
    if name == "_charset_" and text.strip().lower() not in ACCEPT_CHARSETS:
        # Browsers name the form's charset in a _charset_ field; servers may decode the other parts with it.
        extraction.anomaly(
            "charset_not_allowed", "protocol", "multipart._charset_", "form charset field is not allowed"
        )
    extraction.add(f"multipart.{name}", text)
