"""API4:2023 resource consumption: no-rate-limit, unbounded-page-size, oversized-body, redos.

Every probe here is bounded: the burst is a fixed count, the oversized body a fixed size, and
ReDoS inputs stay at most ``_REDOS_LENGTHS[-1]`` characters with a per-request timeout, so a
vulnerable target is slowed for seconds, not pinned.
"""

from __future__ import annotations

import re
from typing import Any

from apiward.scanner.client import Response
from apiward.scanner.context import ScanContext, credential_field, string_fields
from apiward.scanner.registry import Recorder, check
from apiward.scanner.spec import Operation
from apiward.scanner.values import schema_type

_BURST = 40
_PAGE_PARAMS = re.compile(
    r"^(limit|size|page_?size|pagesize|per_?page|perpage|count|max|top|first|take)$", re.I
)
_HUGE_PAGE = 100000
_OVERSIZED_BYTES = 4 * 1024 * 1024
_REDOS_LENGTHS = (12, 16, 20, 24)
_REDOS_TIMEOUT = 4.0
_REDOS_MIN_SECONDS = 0.25
_REDOS_MIN_GROWTH = 4.0


@check("no-rate-limit")
def no_rate_limit(ctx: ScanContext, recorder: Recorder) -> None:
    found = ctx.representative_get(secured=False)
    if found is None:
        recorder.not_run(None, "no GET operation without path parameters answers 2xx")
        return
    operation, identity, prepared, _first = found
    last: Response | None = None
    for sent in range(1, _BURST + 1):
        last = ctx.send(identity, operation, prepared)
        if last.status == 429:
            recorder.passed(operation, f"429 after {sent} requests", [last])
            return
    assert last is not None
    recorder.finding(operation, f"{_BURST} requests in a burst: no 429", [last])


@check("unbounded-page-size")
def unbounded_page_size(ctx: ScanContext, recorder: Recorder) -> None:
    for operation in ctx.callable_operations(("GET",)):
        params = [
            param
            for param in operation.parameters
            if param.location == "query" and _PAGE_PARAMS.match(param.name)
        ]
        if not params:
            continue
        identity = ctx.best_identity(operation)
        prepared = ctx.prepare(operation, identity)
        prepared.params[params[0].name] = _HUGE_PAGE
        response = ctx.send(identity, operation, prepared)
        if not response.ok:
            recorder.passed(operation, f"page size {_HUGE_PAGE} answered {response.status}", [response])
            continue
        document = response.json()
        if _largest_list(document) > 100 or _echoes(document, _HUGE_PAGE):
            recorder.finding(operation, f"{params[0].name}={_HUGE_PAGE} accepted and honoured", [response])
        else:
            recorder.passed(operation, "the page size was capped", [response])


def _largest_list(node: Any, depth: int = 0) -> int:
    if depth > 4:
        return 0
    if isinstance(node, list):
        return len(node)
    if isinstance(node, dict):
        return max((_largest_list(value, depth + 1) for value in node.values()), default=0)
    return 0


def _echoes(node: Any, value: int, depth: int = 0) -> bool:
    if depth > 3 or not isinstance(node, dict):
        return False
    return any(item == value or _echoes(item, value, depth + 1) for item in node.values())


@check("oversized-body")
def oversized_body(ctx: ScanContext, recorder: Recorder) -> None:
    for operation in ctx.callable_operations(("POST",)):
        if operation.body_schema is None or operation.body_media_type != "application/json":
            continue
        fields = string_fields(operation.body_schema)
        if not fields or ctx.is_login(operation) or ctx.is_register(operation):
            continue
        identity = ctx.best_identity(operation)
        prepared = ctx.prepare(operation, identity)
        if not isinstance(prepared.body, dict):
            continue
        baseline = ctx.send(identity, operation, ctx.prepare(operation, identity))
        if not baseline.ok:
            recorder.not_run(operation, f"a normal request answered {baseline.status}")
            continue
        prepared.body[fields[-1]] = "A" * _OVERSIZED_BYTES
        response = ctx.send(identity, operation, prepared, timeout=30.0)
        if response.ok:
            recorder.finding(
                operation, f"a {_OVERSIZED_BYTES // 1048576} MiB body answered {response.status}", [response]
            )
        else:
            recorder.passed(operation, f"a large body answered {response.status}", [response])


def _redos_payload(length: int) -> str:
    return "a" * length + "!"


@check("redos")
def redos(ctx: ScanContext, recorder: Recorder) -> None:
    for operation in ctx.callable_operations(("GET", "POST", "PUT", "PATCH")):
        if ctx.is_login(operation) or ctx.is_register(operation):
            continue
        write = ctx.write_target(operation)
        if write is None:
            recorder.not_run(operation, "would change an object the scanner did not create")
            continue
        identity, values = write
        # Changing the throwaway account's password would lock the scan out of it.
        body_fields = [
            name
            for name in string_fields(operation.body_schema)
            if operation.method == "POST" or not credential_field(name)
        ]
        fields = [("body", name) for name in body_fields] + [
            ("query", param.name)
            for param in operation.parameters
            if param.location == "query"
            and schema_type(param.schema) == "string"
            and not param.schema.get("enum")
        ]
        if not fields:
            continue
        _measure(ctx, recorder, operation, identity, values, fields)


def _timed_send(
    ctx: ScanContext,
    operation: Operation,
    identity: Any,
    values: dict[str, str],
    field: tuple[str, str],
    length: int,
) -> tuple[float, Response]:
    """Send the ReDoS payload of ``length`` in one field; a timeout counts as the full timeout."""
    location, name = field
    prepared = ctx.prepare(operation, identity, values)
    payload = _redos_payload(length)
    if location == "body" and isinstance(prepared.body, dict):
        prepared.body[name] = payload
    else:
        prepared.params[name] = payload
    response = ctx.send(identity, operation, prepared, timeout=_REDOS_TIMEOUT)
    return (_REDOS_TIMEOUT if response.status is None else response.elapsed), response


def _measure(
    ctx: ScanContext,
    recorder: Recorder,
    operation: Operation,
    identity: Any,
    values: dict[str, str],
    fields: list[tuple[str, str]],
) -> None:
    for field in fields:
        timings: list[float] = []
        responses: list[Response] = []
        for length in _REDOS_LENGTHS:
            elapsed, response = _timed_send(ctx, operation, identity, values, field, length)
            timings.append(elapsed)
            responses.append(response)
            if response.status is None:
                break
        if not _super_linear(timings):
            continue

        # Confirm: a pause of the server during one request must not become a finding, so the
        # shortest and the longest input are timed once more.
        short, _ = _timed_send(ctx, operation, identity, values, field, _REDOS_LENGTHS[0])
        long, again = _timed_send(ctx, operation, identity, values, field, _REDOS_LENGTHS[len(timings) - 1])
        if long >= _REDOS_MIN_SECONDS and long >= _REDOS_MIN_GROWTH * max(short, 0.002):
            measured = ", ".join(
                f"{n} chars {t:.2f} s" for n, t in zip(_REDOS_LENGTHS, timings, strict=False)
            )
            recorder.finding(
                operation, f"{field[0]} field {field[1]!r}: response time {measured}", [*responses, again]
            )
            return
    recorder.passed(operation, f"response time stayed flat for inputs up to {_REDOS_LENGTHS[-1]} characters")


def _super_linear(timings: list[float]) -> bool:
    """True when time grows by a large factor while the length grows by a small one."""
    if len(timings) < 2 or timings[-1] < _REDOS_MIN_SECONDS:
        return False
    base = max(min(timings[: max(1, len(timings) - 2)]), 0.002)
    return timings[-1] / base >= _REDOS_MIN_GROWTH and timings[-1] >= max(timings[:-1])
