"""Injection (2019 API8): sqli, nosqli, os-command, path-traversal, ssti.

Every finding needs two requests that differ in the expected way. Examples: an error that an
escaped payload does not cause, a true and a false condition, two different delays, a file
that a missing file does not return, or two different template products.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from apiward.scanner.auth import Identity
from apiward.scanner.client import Response
from apiward.scanner.context import ScanContext, credential_field, string_fields
from apiward.scanner.registry import Recorder, check
from apiward.scanner.spec import Operation
from apiward.scanner.values import schema_type

SQL_ERRORS = re.compile(
    r"sqlite3?\.OperationalError|unrecognized token|near \"[^\"]*\": syntax error|SQL syntax|"
    r"SQLSTATE|ORA-\d{5}|PG::SyntaxError|psycopg2?\.errors|unterminated quoted string|"
    r"quoted string not properly terminated|Unclosed quotation mark|syntax error at or near",
    re.I,
)
_PASSWD = re.compile(r"root:[x*!]?:0:0:")
_TRAVERSALS = ("../../../../../../../../etc/passwd", "....//....//....//....//etc/passwd", "/etc/passwd")
_SLEEP_SQL = ("' OR SLEEP({n})-- -", "'; SELECT pg_sleep({n})--", "1 OR SLEEP({n})")
_SLEEP_SHELL = (";sleep {n}", "|sleep {n}", "$(sleep {n})", "`sleep {n}`", "&& sleep {n}")
_TEMPLATES = ("{{%d*%d}}", "${%d*%d}", "<%%= %d*%d %%>", "#{%d*%d}")
_DELAY = 2.0


@dataclass
class Point:
    """One injectable value: a path, query or body field of an operation."""

    operation: Operation
    identity: Identity
    values: dict[str, str]
    location: str
    name: str
    base: str

    @property
    def label(self) -> str:
        return f"{self.location} field {self.name!r}"


def points(ctx: ScanContext) -> list[Point]:
    """Return every injectable value of the operations the scanner may call (cached)."""
    if "injection-points" not in ctx.cache:
        ctx.cache["injection-points"] = list(_collect(ctx))
    result: list[Point] = ctx.cache["injection-points"]
    return result


def _collect(ctx: ScanContext) -> Iterator[Point]:
    for operation in ctx.callable_operations(("GET", "POST", "PUT", "PATCH")):
        if ctx.is_register(operation):
            continue
        target = ctx.write_target(operation)
        if target is None:
            continue
        identity, values = target
        prepared = ctx.prepare(operation, identity, values)
        for param in operation.parameters:
            if param.location == "path" and param.name not in values:
                yield Point(operation, identity, values, "path", param.name, prepared.path_values[param.name])
            elif param.location == "query" and schema_type(param.schema) in ("string", "integer"):
                base = prepared.params.get(param.name, "1")
                yield Point(operation, identity, values, "query", param.name, str(base))
        if isinstance(prepared.body, dict) and operation.body_media_type == "application/json":
            for name in string_fields(operation.body_schema):
                if operation.method in ("PUT", "PATCH") and credential_field(name):
                    continue
                yield Point(operation, identity, values, "body", name, str(prepared.body.get(name, "")))


def send(ctx: ScanContext, point: Point, value: Any, timeout: float | None = None) -> Response:
    values = dict(point.values)
    if point.location == "path":
        values[point.name] = str(value)
    prepared = ctx.prepare(point.operation, point.identity, values)
    if point.location == "query":
        prepared.params[point.name] = value
    elif point.location == "body" and isinstance(prepared.body, dict):
        prepared.body[point.name] = value
    return ctx.send(point.identity, point.operation, prepared, timeout=timeout)


def _report(
    recorder: Recorder, results: dict[str, tuple[Point, str, list[Response]]], operations: list[Operation]
) -> None:
    for operation in operations:
        found = results.get(operation.key)
        if found is None:
            recorder.passed(operation)
        else:
            point, detail, evidence = found
            recorder.finding(operation, f"{point.label}: {detail}", evidence)


def _run(ctx: ScanContext, recorder: Recorder, probe: Any) -> None:
    all_points = points(ctx)
    if not all_points:
        recorder.not_run(None, "no operation has a parameter or body field to test")
        return
    results: dict[str, tuple[Point, str, list[Response]]] = {}
    for point in all_points:
        if point.operation.key in results:
            continue
        outcome = probe(ctx, point)
        if outcome is not None:
            results[point.operation.key] = (point, *outcome)
    _report(recorder, results, list({point.operation.key: point.operation for point in all_points}.values()))


def _strip(response: Response, *payloads: str) -> str:
    text = response.text
    for payload in payloads:
        text = text.replace(payload, "")
    return text


def _differs(a: Response, b: Response, a_payload: str, b_payload: str) -> bool:
    if a.status != b.status:
        return True
    text_a, text_b = _strip(a, a_payload), _strip(b, b_payload)
    return abs(len(text_a) - len(text_b)) > max(30, 0.2 * max(len(text_a), len(text_b)))


def _sqli(ctx: ScanContext, point: Point) -> tuple[str, list[Response]] | None:
    baseline = send(ctx, point, point.base)
    broken = send(ctx, point, point.base + "'")
    if SQL_ERRORS.search(broken.text) and not SQL_ERRORS.search(baseline.text):
        escaped = send(ctx, point, point.base + "''")
        if not SQL_ERRORS.search(escaped.text):
            return "a quote causes a SQL error that an escaped quote does not", [baseline, broken, escaped]
    for true_payload, false_payload, true_again, false_again in (
        ("' OR '1'='1", "' AND '1'='2", "' OR 'a'='a", "' AND 'a'='b"),
        (" OR 1=1", " AND 1=2", " OR 2=2", " AND 2=3"),
    ):
        is_true = send(
            ctx, point, "aw-none" + true_payload if "'" in true_payload else point.base + true_payload
        )
        is_false = send(
            ctx, point, "aw-none" + false_payload if "'" in false_payload else point.base + false_payload
        )
        if is_true.ok and _differs(is_true, is_false, true_payload, false_payload):
            again_true = send(
                ctx, point, "aw-none" + true_again if "'" in true_again else point.base + true_again
            )
            again_false = send(
                ctx, point, "aw-none" + false_again if "'" in false_again else point.base + false_again
            )
            if again_true.ok and _differs(again_true, again_false, true_again, false_again):
                return "a true condition and a false one answer differently, twice", [
                    is_true,
                    is_false,
                    again_true,
                    again_false,
                ]
    return _timed(ctx, point, baseline, _SLEEP_SQL, "SQL sleep")


def _timed(
    ctx: ScanContext, point: Point, baseline: Response, payloads: tuple[str, ...], what: str
) -> tuple[str, list[Response]] | None:
    if baseline.elapsed > 0.5:
        return None
    for payload in payloads:
        first = send(ctx, point, point.base + payload.format(n=int(_DELAY)), timeout=_DELAY * 3)
        if first.elapsed < _DELAY:
            continue
        second = send(ctx, point, point.base + payload.format(n=int(_DELAY * 2)), timeout=_DELAY * 4)
        control = send(ctx, point, point.base)
        if second.elapsed >= _DELAY * 2 and control.elapsed < 0.5:
            return f"{what} delays the response ({first.elapsed:.1f} s, then {second.elapsed:.1f} s)", [
                baseline,
                first,
                second,
            ]
    return None


def _nosqli(ctx: ScanContext, point: Point) -> tuple[str, list[Response]] | None:
    if point.location != "body":
        return None
    matches_all = send(ctx, point, {"$ne": "aw-nothing-1"})
    matches_none = send(ctx, point, {"$eq": "aw-nothing-1"})
    if not matches_all.ok or matches_none.ok:
        return None
    again = send(ctx, point, {"$gt": ""})
    control = send(ctx, point, {"$in": ["aw-nothing-2"]})
    if again.ok and not control.ok:
        return "operator objects ($ne, $gt) match where plain values fail", [matches_all, matches_none, again]
    return None


def _os_command(ctx: ScanContext, point: Point) -> tuple[str, list[Response]] | None:
    return _timed(ctx, point, send(ctx, point, point.base), _SLEEP_SHELL, "a shell sleep")


def _path_traversal(ctx: ScanContext, point: Point) -> tuple[str, list[Response]] | None:
    baseline = send(ctx, point, point.base)
    if _PASSWD.search(baseline.text):
        return None
    for payload in _TRAVERSALS:
        response = send(ctx, point, payload)
        if _PASSWD.search(response.text):
            control = send(ctx, point, payload.replace("passwd", "aw-missing-file"))
            if not _PASSWD.search(control.text):
                return f"{payload!r} returned /etc/passwd", [response, control]
    return None


def _ssti(ctx: ScanContext, point: Point) -> tuple[str, list[Response]] | None:
    baseline = send(ctx, point, point.base)
    for template in _TEMPLATES:
        first = send(ctx, point, point.base + template % (7, 191))
        if "1337" not in first.text or "1337" in baseline.text:
            continue
        second = send(ctx, point, point.base + template % (7, 193))
        if "1351" in second.text:
            return f"{template % (7, 191)!r} was evaluated to 1337", [baseline, first, second]
    return None


@check("sqli")
def sqli(ctx: ScanContext, recorder: Recorder) -> None:
    _run(ctx, recorder, _sqli)


@check("nosqli")
def nosqli(ctx: ScanContext, recorder: Recorder) -> None:
    _run(ctx, recorder, _nosqli)


@check("os-command")
def os_command(ctx: ScanContext, recorder: Recorder) -> None:
    _run(ctx, recorder, _os_command)


@check("path-traversal")
def path_traversal(ctx: ScanContext, recorder: Recorder) -> None:
    _run(ctx, recorder, _path_traversal)


@check("ssti")
def ssti(ctx: ScanContext, recorder: Recorder) -> None:
    _run(ctx, recorder, _ssti)
