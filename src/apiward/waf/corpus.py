"""Read WAF corpus cases (JSON lines) into requests the engine can inspect.

A case holds ``request`` with ``method``, ``uri``, ``headers`` and ``body``, or ``raw_b64`` with
the exact wire bytes, which then take precedence. The benchmark script, the corpus tests and
``apiward waf explain`` all read cases through this module.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from apiward.waf.request import HttpRequest, RequestParseError, parse_raw_request


def read_cases(path: Path) -> Iterator[dict[str, Any]]:
    """Yield the cases of one ``.jsonl`` file."""
    with path.open("rb") as handle:
        for line in handle:
            if line.strip():
                case: dict[str, Any] = orjson.loads(line)
                yield case


CASE_SHAPE = (
    'expected {"request": {"method": "GET", "uri": "/path?query", "headers": [["Name", "value"]], '
    '"body": null}} or {"request": {"raw_b64": "<base64 of the raw request>"}}'
)


def case_request(case: Any) -> HttpRequest:
    """Build the request of one corpus case, preferring its raw bytes when it has them.

    Raises RequestParseError, naming the expected shape, when the case does not have it.
    """
    request = case.get("request") if isinstance(case, dict) else None
    if not isinstance(request, dict):
        raise RequestParseError(f"a case needs a 'request' object; {CASE_SHAPE}")
    raw = request.get("raw_b64")
    if raw:
        try:
            data = base64.b64decode(raw, validate=True)
        except (ValueError, TypeError):
            raise RequestParseError("request.raw_b64 is not valid base64") from None
        return parse_raw_request(data)
    method, uri, headers = request.get("method"), request.get("uri"), request.get("headers", [])
    if not isinstance(method, str) or not isinstance(uri, str):
        raise RequestParseError(f"request.method and request.uri must be strings; {CASE_SHAPE}")
    if not isinstance(headers, list) or not all(
        isinstance(pair, list | tuple) and len(pair) == 2 and all(isinstance(part, str) for part in pair)
        for pair in headers
    ):
        raise RequestParseError(f"request.headers must be a list of [name, value] pairs; {CASE_SHAPE}")
    body = request.get("body")
    data = body.encode("utf-8", "replace") if isinstance(body, str) else b""
    return HttpRequest.from_target(method, uri, [(name, value) for name, value in headers], data)
