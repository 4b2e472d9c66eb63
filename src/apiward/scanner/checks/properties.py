"""API3:2023 object property level authorization: sensitive-data, undeclared-field, mass-assignment."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from apiward.scanner.auth import Identity
from apiward.scanner.client import Response
from apiward.scanner.context import ScanContext, fill_path, path_params
from apiward.scanner.registry import Recorder, check
from apiward.scanner.spec import Operation, Schema
from apiward.scanner.values import merged_schema, new_tag, schema_type

# Credentials are reported wherever they appear. The other names are reported only when the
# response schema does not declare them, because a declared "token" on a login is the design.
_CREDENTIAL_KEYS = re.compile(
    r"^(password|passwd|pwd|pass|password_?hash|hashed_?password|pass_?hash|hash|salt|"
    r"api_?key|private_?key|client_?secret|secret_?key|cvv|cvc)$",
    re.I,
)
_SENSITIVE_KEYS = re.compile(
    r"^(secret|token|access_?token|refresh_?token|session_?id|ssn|social_?security(_?number)?|"
    r"national_?id|card_?number|cc_?number|credit_?card|pan|iban)$",
    re.I,
)
_CARD = re.compile(r"(?<!\d)(\d[ -]?){12,18}\d(?!\d)")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[A-Za-z]{2,}")
# One address may be the caller's own record, but two or more in one anonymous response are a listing.
_MIN_LISTED_EMAILS = 2
_SSN = re.compile(r"(?<!\d)\d{3}-\d{2}-\d{4}(?!\d)")
_PRIVILEGED: dict[str, Any] = {
    "admin": True,
    "is_admin": True,
    "isAdmin": True,
    "role": "admin",
    "roles": ["admin"],
    "balance": 1000000,
    "is_superuser": True,
    "verified": True,
}
_SELF_PATHS = ("/me", "/profile", "/account", "/whoami", "/user", "/users/me")


def _luhn(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _walk(node: Any, prefix: str = "") -> Iterator[tuple[str, str, Any]]:
    """Yield (path, key, value) for every key in parsed JSON."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield f"{prefix}.{key}", str(key), value
            yield from _walk(value, f"{prefix}.{key}")
    elif isinstance(node, list):
        for item in node[:50]:
            yield from _walk(item, prefix + "[]")


def _declared_keys(schema: Schema | None, depth: int = 0) -> set[str]:
    if not schema or depth > 6:
        return set()
    schema = merged_schema(schema)
    keys = set((schema.get("properties") or {}).keys())
    for child in (schema.get("properties") or {}).values():
        if isinstance(child, dict):
            keys |= _declared_keys(child, depth + 1)
    if isinstance(schema.get("items"), dict):
        keys |= _declared_keys(schema["items"], depth + 1)
    return keys


def sensitive_values(document: Any, schema: Schema | None) -> list[str]:
    """Return descriptions of the sensitive values in a response document."""
    declared = _declared_keys(schema)
    found: list[str] = []
    for path, key, value in _walk(document):
        if value in (None, "", [], {}) or isinstance(value, dict | list | bool):
            continue
        if _CREDENTIAL_KEYS.match(key) or (_SENSITIVE_KEYS.match(key) and key not in declared):
            found.append(f"{path} (field name)")
        elif isinstance(value, str) and _SSN.search(value):
            found.append(f"{path} (national id number)")
        elif isinstance(value, str | int):
            match = _CARD.search(str(value))
            digits = re.sub(r"\D", "", match.group(0)) if match else ""
            if 13 <= len(digits) <= 19 and _luhn(digits):
                found.append(f"{path} (card number, Luhn valid)")
    return found


def _read(ctx: ScanContext, operation: Operation) -> tuple[Identity, Response] | None:
    identity = ctx.best_identity(operation)
    prepared = ctx.prepare(operation, identity)
    response = ctx.send(identity, operation, prepared)
    return (identity, response) if response.ok else None


def _readable(ctx: ScanContext) -> Iterator[tuple[Operation, Response | None]]:
    for operation in ctx.callable_operations(("GET",)):
        key = f"read {operation.key}"
        if key not in ctx.cache:
            read = _read(ctx, operation)
            ctx.cache[key] = read[1] if read else None
        yield operation, ctx.cache[key]


@check("sensitive-data")
def sensitive_data(ctx: ScanContext, recorder: Recorder) -> None:
    for operation, response in _readable(ctx):
        if response is None:
            recorder.not_run(operation, "no successful response to inspect")
            continue
        found = list(dict.fromkeys(sensitive_values(response.json(), operation.success_schema())))
        evidence = [response]
        if not found and not operation.secured:
            anonymous = ctx.send(ctx.anonymous, operation, ctx.prepare(operation, ctx.anonymous))
            emails = _emails(anonymous.json()) if anonymous.ok else set()
            if len(emails) >= _MIN_LISTED_EMAILS:
                found = [f"e-mail addresses of {len(emails)} accounts to anonymous callers"]
                evidence = [anonymous]
        if found:
            recorder.finding(operation, "sensitive values: " + ", ".join(found[:5]), evidence)
        else:
            recorder.passed(operation)


def _emails(document: Any) -> set[str]:
    """Return the distinct e-mail addresses among the string values of a document."""
    return {
        value.lower()
        for _path, _key, value in _walk(document)
        if isinstance(value, str) and _EMAIL.fullmatch(value)
    }


@check("undeclared-field")
def undeclared_field(ctx: ScanContext, recorder: Recorder) -> None:
    for operation, response in _readable(ctx):
        schema = operation.success_schema()
        if response is None or not schema:
            recorder.not_run(operation, "no successful response or no response schema")
            continue
        undeclared = _undeclared(response.json(), schema)
        extra = [name for name in undeclared if not sensitive_values({name: "x1"}, schema)]
        if extra:
            recorder.finding(
                operation, "fields not in the response schema: " + ", ".join(sorted(extra)[:8]), [response]
            )
        else:
            recorder.passed(operation)


def _undeclared(document: Any, schema: Schema, depth: int = 0) -> set[str]:
    """Return property names in ``document`` that a closed object schema does not declare."""
    schema = merged_schema(schema)
    if depth > 5:
        return set()
    kind = schema_type(schema)
    if kind == "object" and isinstance(document, dict):
        properties = schema.get("properties") or {}
        if not properties or schema.get("additionalProperties") not in (None, False):
            return set()
        extra = {key for key in document if key not in properties}
        for key, child in properties.items():
            if key in document and isinstance(child, dict):
                extra |= _undeclared(document[key], child, depth + 1)
        return extra
    if kind == "array" and isinstance(document, list) and isinstance(schema.get("items"), dict):
        found: set[str] = set()
        for item in document[:20]:
            found |= _undeclared(item, schema["items"], depth + 1)
        return found
    return set()


@check("mass-assignment")
def mass_assignment(ctx: ScanContext, recorder: Recorder) -> None:
    for operation in ctx.callable_operations(("POST",)):
        if operation.body_schema is None or ctx.is_login(operation):
            continue
        properties = set((merged_schema(operation.body_schema).get("properties") or {}).keys())
        extra = {key: value for key, value in _PRIVILEGED.items() if key not in properties}
        if ctx.is_register(operation):
            _register_with(ctx, recorder, operation, extra)
        elif operation.path + "/{" in " ".join(ctx.spec.paths) and not operation.path_parameters:
            _create_with(ctx, recorder, operation, extra)


def _privileged_in(document: Any, extra: dict[str, Any]) -> list[str]:
    hits = []
    for _path, key, value in _walk(document):
        if key in extra and value == extra[key]:
            hits.append(key)
    return hits


def _self_read(ctx: ScanContext, identity: Identity) -> Response | None:
    for suffix in _SELF_PATHS:
        for operation in ctx.callable_operations(("GET",)):
            if operation.path.endswith(suffix) and not operation.path_parameters:
                return identity.send("GET", operation.path)
    for operation in ctx.callable_operations(("GET",)):
        names = path_params(operation.path)
        if len(names) == 1 and names[0].lower() in ("username", "user", "name") and identity.username:
            return identity.send("GET", fill_path(operation.path, {names[0]: identity.username}))
    return None


def _register_with(ctx: ScanContext, recorder: Recorder, operation: Operation, extra: dict[str, Any]) -> None:
    original = ctx.auth.register_
    if original is None or not ctx.can_register():
        recorder.not_run(operation, "registration is not configured")
        return
    ctx.auth = ctx.auth.model_copy(
        update={"register_": original.model_copy(update={"body": {**original.body, **extra}})}
    )
    try:
        elevated = ctx.throwaway()
    finally:
        ctx.auth = ctx.auth.model_copy(update={"register_": original})
    control = ctx.throwaway()
    if elevated is None or control is None:
        recorder.error(operation, "could not register throwaway accounts")
        return
    proof, baseline = _self_read(ctx, elevated), _self_read(ctx, control)
    if proof is None or baseline is None:
        recorder.not_run(operation, "no operation returns the caller's own account")
        return
    hits = [
        key
        for key in _privileged_in(proof.json(), extra)
        if key not in _privileged_in(baseline.json(), extra)
    ]
    if hits:
        recorder.finding(
            operation, "privileged properties persisted on sign-up: " + ", ".join(hits), [proof, baseline]
        )
    else:
        recorder.passed(operation, "privileged properties were ignored", [proof])


def _create_with(ctx: ScanContext, recorder: Recorder, operation: Operation, extra: dict[str, Any]) -> None:
    item_path = next(
        (
            path
            for path in ctx.spec.paths
            if path.startswith(operation.path + "/{") and path.count("/") == operation.path.count("/") + 1
        ),
        None,
    )
    identity = ctx.best_identity(operation)
    if item_path is None or ctx.spec.find("GET", item_path) is None:
        recorder.not_run(operation, "no GET operation to read the created object back")
        return
    results = []
    for payload_extra in (extra, {}):
        tag = new_tag()
        prepared = ctx.prepare(operation, identity, tag=tag)
        if not isinstance(prepared.body, dict):
            recorder.not_run(operation, "the request body is not a JSON object")
            return
        prepared.body.update(payload_extra)
        created = ctx.send(identity, operation, prepared)
        object_id = _created_id(created, prepared.body, path_params(item_path)[-1])
        if not created.ok or object_id is None:
            recorder.passed(operation, f"create answered {created.status}", [created])
            return
        read = identity.send("GET", fill_path(item_path, {path_params(item_path)[-1]: object_id}))
        results.append((created, read))
    hits = [
        key
        for key in _privileged_in(results[0][1].json(), extra)
        if key not in _privileged_in(results[1][1].json(), extra)
    ]
    if hits:
        recorder.finding(
            operation,
            "privileged properties persisted: " + ", ".join(hits),
            [results[0][0], results[0][1], results[1][1]],
        )
    else:
        recorder.passed(operation, "privileged properties were ignored", [results[0][1]])


def _created_id(response: Response, body: dict[str, Any], param: str) -> str | None:
    from apiward.scanner.context import _find_id

    return _find_id(response, body, param) if response.ok else None
