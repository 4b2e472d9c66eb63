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

from apiward.waf.request import HttpRequest, parse_raw_request


def read_cases(path: Path) -> Iterator[dict[str, Any]]:
    """Yield the cases of one ``.jsonl`` file."""
    with path.open("rb") as handle:
        for line in handle:
            if line.strip():
                case: dict[str, Any] = orjson.loads(line)
                yield case


def case_request(case: dict[str, Any]) -> HttpRequest:
    """Build the request of one corpus case, preferring its raw bytes when it has them."""
    request = case["request"]
    if request.get("raw_b64"):
        return parse_raw_request(base64.b64decode(request["raw_b64"]))
    body = request.get("body")
    data = body.encode("utf-8", "replace") if isinstance(body, str) else b""
    return HttpRequest.from_target(request["method"], request["uri"], request["headers"], data)
