"""API8:2023 security misconfiguration: security-headers, cors, stack-trace, trace-method."""

from __future__ import annotations

import ipaddress
import re

from apiward.scanner.client import Response
from apiward.scanner.context import ScanContext
from apiward.scanner.registry import Recorder, check
from apiward.scanner.spec import Operation
from apiward.scanner.values import schema_type

_PROBE_ORIGIN = "https://aw-cors-probe.example"
TRACE_MARKERS = re.compile(
    r"Traceback \(most recent call last\)|File \"[^\"]+\", line \d+|Werkzeug Debugger|"
    r"__debugger__|at [a-zA-Z_$][\w$.]*\([\w]+\.java:\d+\)|Exception in thread \"|"
    r"System\.[A-Za-z.]+Exception|Stack trace:|#0 /[^ ]+\.php|django\.core\.exceptions|"
    r"sqlite3\.OperationalError|SQLSTATE\[|\bat (?:Object|Module)\.<anonymous> \(",
)


def plain_http_exposed(origin: tuple[str, str, int]) -> bool:
    """True for a plain-HTTP origin that is not loopback; HTTP on loopback is a local test set-up."""
    scheme, host, _port = origin
    if scheme != "http" or host == "localhost":
        return False
    try:
        return not ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return True


@check("security-headers")
def security_headers(ctx: ScanContext, recorder: Recorder) -> None:
    found = ctx.representative_get(secured=False)
    if found is None:
        recorder.not_run(None, "no GET operation without path parameters answers 2xx")
        return
    operation, _identity, _prepared, response = found
    missing = []
    if response.headers.get("x-content-type-options", "").lower() != "nosniff":
        missing.append("X-Content-Type-Options: nosniff")
    if "cache-control" not in response.headers:
        missing.append("Cache-Control")
    if ctx.client.origin[0] == "https" and "strict-transport-security" not in response.headers:
        missing.append("Strict-Transport-Security")
    if plain_http_exposed(ctx.client.origin):
        missing.append("TLS (the API is served over plain HTTP)")
    if missing:
        recorder.finding(operation, "answered without " + ", ".join(missing), [response])
    else:
        recorder.passed(operation, "security headers present", [response])


@check("cors")
def cors(ctx: ScanContext, recorder: Recorder) -> None:
    found = ctx.representative_get(secured=True)
    if found is None:
        recorder.not_run(None, "no GET operation without path parameters answers 2xx")
        return
    operation, identity, prepared, _response = found
    response = ctx.send(identity, operation, prepared, headers={"Origin": _PROBE_ORIGIN})
    allowed = response.headers.get("access-control-allow-origin", "")
    credentials = response.headers.get("access-control-allow-credentials", "").lower() == "true"
    if allowed == _PROBE_ORIGIN and credentials:
        recorder.finding(operation, f"Origin {_PROBE_ORIGIN} reflected with credentials allowed", [response])
    else:
        recorder.passed(operation, "an arbitrary origin is not allowed with credentials", [response])


def _malformed_requests(ctx: ScanContext, operation: Operation) -> list[dict[str, object]]:
    """Return request variants likely to reach an unhandled error."""
    identity = ctx.best_identity(operation)
    variants: list[dict[str, object]] = []
    for param in operation.path_parameters:
        prepared = ctx.prepare(operation, identity)
        bad = "1'\"" if schema_type(param.schema) == "string" else "x'"
        values = dict(prepared.path_values, **{param.name: bad})
        variants.append({"path_values": values})
    for param in operation.parameters:
        if param.location == "query":
            prepared = ctx.prepare(operation, identity)
            bad = "aw'\"<%{" if schema_type(param.schema) == "string" else "x'"
            variants.append({"params": {**prepared.params, param.name: bad}})
    if operation.body_schema is not None and operation.body_media_type == "application/json":
        variants.append({"content": b'{"broken": ', "headers": {"Content-Type": "application/json"}})
    return variants


@check("stack-trace")
def stack_trace(ctx: ScanContext, recorder: Recorder) -> None:
    for operation in ctx.callable_operations(("GET", "POST")):
        variants = _malformed_requests(ctx, operation)
        if not variants:
            continue
        identity = ctx.best_identity(operation)
        hit: Response | None = None
        for variant in variants:
            prepared = ctx.prepare(operation, identity, variant.get("path_values"))  # type: ignore[arg-type]
            overrides = {key: value for key, value in variant.items() if key != "path_values"}
            response = ctx.send(identity, operation, prepared, **overrides)
            if TRACE_MARKERS.search(response.text):
                hit = response
                again = ctx.send(identity, operation, prepared, **overrides)
                if TRACE_MARKERS.search(again.text):
                    break
                hit = None
        if hit is not None:
            recorder.finding(
                operation,
                f"an error response with status {hit.status} contains a stack trace or debug page",
                [hit],
            )
        else:
            recorder.passed(operation, f"{len(variants)} malformed requests showed no stack trace")


@check("trace-method")
def trace_method(ctx: ScanContext, recorder: Recorder) -> None:
    found = ctx.representative_get(secured=False)
    path = found[0].path if found is not None else "/"
    marker = "aw-trace-probe"
    response = ctx.client.send("TRACE", path, headers={"X-Aw-Probe": marker})
    if response.ok and marker in response.text:
        recorder.finding(("TRACE", path), "TRACE answered 2xx and echoed the request", [response])
    else:
        recorder.passed(("TRACE", path), f"TRACE answered {response.status}", [response])
