"""Write-then-verify helpers: bodies that differ from an object's current state, and proof
that a change became visible afterwards."""

from __future__ import annotations

import re
from typing import Any

from apiward.scanner.spec import Schema
from apiward.scanner.values import generate, merged_schema, schema_type

_ALTERNATION = re.compile(r"^\^?\(?([\w-]+(?:\|[\w-]+)+)\)?\$?$")


def _fields(document: Any) -> dict[str, Any]:
    """Return the object's fields, looking inside a ``data`` wrapper when there is one."""
    if isinstance(document, dict) and isinstance(document.get("data"), dict):
        return {**document, **document["data"]}
    return document if isinstance(document, dict) else {}


def _different(schema: Schema, current: Any, tag: str, name: str) -> Any:
    schema = merged_schema(schema)
    choices = list(schema.get("enum") or [])
    pattern = _ALTERNATION.match(str(schema.get("pattern", "")))
    if pattern:
        choices = pattern.group(1).split("|")
    if choices:
        return next((choice for choice in choices if choice != current), choices[0])
    kind = schema_type(schema)
    if kind in ("integer", "number"):
        base = current if isinstance(current, int | float) and not isinstance(current, bool) else 1
        maximum = schema.get("maximum")
        return base - 1 if maximum is not None and base + 1 > maximum else base + 1
    if kind == "boolean":
        return not current if isinstance(current, bool) else True
    if kind == "string":
        return generate({"type": "string", "format": schema.get("format", "")}, tag, name)
    return generate(schema, tag, name)


def changed_body(schema: Schema | None, current: Any, tag: str) -> dict[str, Any] | None:
    """Return a body whose every field differs from the object's current value."""
    if not schema:
        return None
    properties = merged_schema(schema).get("properties") or {}
    fields = _fields(current)
    body = {
        name: _different(prop, fields.get(name), tag, name)
        for name, prop in properties.items()
        if isinstance(prop, dict) and not prop.get("readOnly")
    }
    return body or None


def visible_changes(sent: dict[str, Any], before: Any, after: Any) -> list[str]:
    """Return the sent fields that now show the sent value and did not before."""
    old, new = _fields(before), _fields(after)
    return [
        name for name, value in sent.items() if name in new and new[name] == value and old.get(name) != value
    ]
