"""API5:2023 function level authorization: admin-function, method-switch."""

from __future__ import annotations

from typing import Any

from apiward.scanner.auth import Identity
from apiward.scanner.context import ScanContext
from apiward.scanner.registry import Recorder, check
from apiward.scanner.spec import Operation
from apiward.scanner.wordlists import ADMIN_WORDS

_SWITCH_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
_UNSAFE = ("PUT", "PATCH", "DELETE")
_ID_KEYS = frozenset({"id", "_id", "uuid", "created_at", "updated_at"})


def looks_administrative(operation: Operation) -> bool:
    """True when the path, a tag, a scope or the operationId names an administrative function."""
    words = {segment.lower() for segment in operation.path.replace("-", "/").replace("_", "/").split("/")}
    words |= {tag.lower() for tag in operation.tags}
    words |= {part.lower() for scope in operation.scopes for part in scope.replace(":", " ").split()}
    words |= {part.lower() for part in operation.operation_id.replace(".", "_").split("_")}
    return bool(words & ADMIN_WORDS)


@check("admin-function")
def admin_function(ctx: ScanContext, recorder: Recorder) -> None:
    admin = ctx.admin()
    users = ctx.users()
    for operation in ctx.spec.operations:
        if not looks_administrative(operation):
            continue
        if ctx.is_dangerous(operation):
            recorder.not_run(operation, "listed as dangerous in the auth file")
            continue
        if not users:
            recorder.not_run(operation, "needs a user identity")
            continue
        write = ctx.write_target(operation)
        if write is None:
            recorder.not_run(operation, "would change an object the scanner did not create")
            continue
        prepared = ctx.prepare(operation, admin or users[0], write[1])
        reference = ctx.send(admin, operation, prepared) if admin else None
        attempt = ctx.send(users[0], operation, prepared)
        if not attempt.ok:
            recorder.passed(operation, f"a user got {attempt.status}", [attempt])
            continue
        anonymous = ctx.send(ctx.anonymous, operation, prepared)
        if anonymous.ok and not operation.secured:
            recorder.passed(operation, "the operation is public (anonymous call succeeds)")
            continue
        again = ctx.send(users[0], operation, prepared)
        if again.ok and (reference is None or reference.ok):
            recorder.finding(
                operation,
                f"{users[0].name} (not admin) called an administrative operation",
                [item for item in (reference, attempt, again) if item is not None],
            )
        else:
            recorder.passed(operation, "a second call by the user failed")


@check("method-switch")
def method_switch(ctx: ScanContext, recorder: Recorder) -> None:
    for path in ctx.spec.paths:
        declared = {operation.method for operation in ctx.spec.operations if operation.path == path}
        known = next(operation for operation in ctx.spec.operations if operation.path == path)
        if ctx.is_dangerous(known):
            continue
        for method in _SWITCH_METHODS:
            if method in declared:
                continue
            probe = Operation(
                method=method,
                path=path,
                operation_id=f"{method} {path}",
                parameters=known.parameters,
                body_schema=known.body_schema,
                security=known.security,
                tags=known.tags,
            )
            write = ctx.write_target(probe) if method in _UNSAFE else (ctx.best_identity(probe), {})
            if write is None:
                recorder.not_run((method, path), "would change an object the scanner did not create")
                continue
            _switch(ctx, recorder, probe, *write)


def _switch(
    ctx: ScanContext, recorder: Recorder, probe: Operation, identity: object, values: dict[str, str]
) -> None:
    assert isinstance(identity, Identity)
    prepared = ctx.prepare(probe, identity, values)
    if prepared.body is None and probe.method in ("POST", "PUT", "PATCH"):
        prepared.body = _sample_body(ctx, probe.path, identity)
    response = ctx.send(identity, probe, prepared)
    if not response.ok:
        recorder.passed((probe.method, probe.path), f"answered {response.status}")
        return
    again = ctx.send(identity, probe, prepared) if probe.method != "DELETE" else response
    if again.ok:
        recorder.finding(
            (probe.method, probe.path),
            f"{probe.method} is not in the spec for this path but answered {response.status}",
            [response],
        )
    else:
        recorder.passed((probe.method, probe.path), "a second request failed")


def _sample_body(ctx: ScanContext, path: str, identity: Identity) -> dict[str, Any] | None:
    """Build a body from an object that the documented GET returns.

    The undocumented method has no schema, so a plausible object is the best chance that an
    existing handler accepts the request instead of rejecting it with 422.
    """
    reader = ctx.spec.find("GET", path)
    if reader is None:
        return None
    document = ctx.send(identity, reader, ctx.prepare(reader, identity)).json()
    sample = document[0] if isinstance(document, list) and document else document
    if not isinstance(sample, dict):
        return None
    return {key: value for key, value in sample.items() if key not in _ID_KEYS}
