"""API7:2023 server side request forgery: ssrf, proven by a hit on the scanner's own canary."""

from __future__ import annotations

import re

from apiward.scanner.canary import Canary
from apiward.scanner.context import ScanContext
from apiward.scanner.registry import Recorder, check
from apiward.scanner.spec import Operation
from apiward.scanner.values import merged_schema, new_tag, schema_type

_URL_NAME = re.compile(
    r"(url|uri|link|callback|webhook|href|src|image|avatar|redirect|endpoint|feed|fetch|target)", re.I
)


def url_fields(operation: Operation) -> list[tuple[str, str]]:
    """Return (location, name) of the parameters and body fields that take a URL."""
    fields = [
        (param.location, param.name)
        for param in operation.parameters
        if param.location in ("query", "path")
        and schema_type(param.schema) == "string"
        and (param.schema.get("format") in ("uri", "url") or _URL_NAME.search(param.name))
    ]
    if operation.body_schema is not None:
        for name, prop in (merged_schema(operation.body_schema).get("properties") or {}).items():
            if (
                isinstance(prop, dict)
                and schema_type(prop) == "string"
                and (prop.get("format") in ("uri", "url") or _URL_NAME.search(name))
            ):
                fields.append(("body", name))
    return fields


@check("ssrf")
def ssrf(ctx: ScanContext, recorder: Recorder) -> None:
    candidates = [
        (operation, url_fields(operation)) for operation in ctx.callable_operations(("GET", "POST"))
    ]
    candidates = [(operation, fields) for operation, fields in candidates if fields]
    if not candidates:
        recorder.not_run(None, "no parameter takes a URL")
        return
    with Canary() as canary:
        for operation, fields in candidates:
            _probe(ctx, recorder, canary, operation, fields)


def _probe(
    ctx: ScanContext, recorder: Recorder, canary: Canary, operation: Operation, fields: list[tuple[str, str]]
) -> None:
    identity = ctx.best_identity(operation)
    for location, name in fields:
        tokens = [new_tag(), new_tag()]
        responses = []
        for token in tokens:
            url = f"{canary.base_url}/{token}"
            prepared = ctx.prepare(operation, identity, {name: url} if location == "path" else None)
            if location == "body" and isinstance(prepared.body, dict):
                prepared.body[name] = url
            elif location == "query":
                prepared.params[name] = url
            responses.append(ctx.send(identity, operation, prepared))
            if not canary.was_hit(token):
                break
        else:
            recorder.finding(
                operation,
                f"{location} field {name!r} made the target fetch the canary ({canary.base_url})",
                responses,
            )
            return
    recorder.passed(operation, "the canary received no request")
