"""Values for parameters and bodies: configured values first, then spec examples, then schemas."""

from __future__ import annotations

import secrets
from typing import Any

from apiward.scanner.spec import Schema

_STRING_FORMATS: dict[str, str] = {
    "email": "scan.{tag}@example.test",
    "uri": "https://example.test/{tag}",
    "url": "https://example.test/{tag}",
    "uuid": "3f6c2a8e-4b1d-4c7a-9e2f-{tag12}",
    "date": "2024-01-15",
    "date-time": "2024-01-15T10:00:00Z",
    "password": "Scan-{tag}-Pw1!",
    "ipv4": "192.0.2.10",
    "hostname": "host.example.test",
}


def new_tag() -> str:
    """Return a short random marker that a check can look for in later responses."""
    return "aw" + secrets.token_hex(4)


def schema_type(schema: Schema) -> str:
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((item for item in kind if item != "null"), "string")
    if kind is None:
        if "properties" in schema:
            return "object"
        if "items" in schema:
            return "array"
        for combinator in ("allOf", "oneOf", "anyOf"):
            if schema.get(combinator):
                return schema_type(merged_schema(schema))
        return "string"
    return str(kind)


def merged_schema(schema: Schema) -> Schema:
    """Flatten allOf (and take the first of oneOf/anyOf) into one object schema."""
    if "allOf" in schema:
        result: Schema = {"type": "object", "properties": {}, "required": []}
        for part in schema["allOf"]:
            part = merged_schema(part) if isinstance(part, dict) else {}
            result["properties"].update(part.get("properties") or {})
            result["required"].extend(part.get("required") or [])
        return result
    for combinator in ("oneOf", "anyOf"):
        options = [item for item in schema.get(combinator) or [] if isinstance(item, dict)]
        if options:
            return merged_schema(options[0])
    return schema


def generate(schema: Schema, tag: str, name: str = "", depth: int = 0) -> Any:
    """Return one valid-looking value for ``schema``; strings carry ``tag`` when free-form."""
    schema = merged_schema(schema)
    for key in ("example", "default"):
        if key in schema and schema[key] is not None:
            return _tagged(schema, schema[key], tag)
    if schema.get("enum"):
        return schema["enum"][0]
    kind = schema_type(schema)
    if kind == "object":
        if depth > 4:
            return {}
        properties = schema.get("properties") or {}
        return {
            key: generate(value, tag, key, depth + 1)
            for key, value in properties.items()
            if isinstance(value, dict) and not value.get("readOnly")
        }
    if kind == "array":
        items = schema.get("items") if isinstance(schema.get("items"), dict) else {}
        return [generate(items or {}, tag, name, depth + 1)]
    if kind == "integer":
        return int(schema.get("minimum", 1)) if schema.get("minimum", 1) > 0 else 1
    if kind == "number":
        return float(schema.get("minimum", 1.5))
    if kind == "boolean":
        return False
    return _string(schema, tag, name)


def _tagged(schema: Schema, example: Any, tag: str) -> Any:
    """Make a free-form string example unique, so that creating twice does not collide."""
    constrained = any(key in schema for key in ("format", "pattern", "enum", "maxLength"))
    if isinstance(example, str) and not constrained and schema_type(schema) == "string":
        return f"{example}-{tag}"
    return example


def _string(schema: Schema, tag: str, name: str) -> str:
    template = _STRING_FORMATS.get(str(schema.get("format", "")))
    lowered = name.lower()
    if template is None and "email" in lowered:
        template = _STRING_FORMATS["email"]
    if template is None and ("url" in lowered or "uri" in lowered):
        template = _STRING_FORMATS["uri"]
    if template is None and "password" in lowered:
        template = _STRING_FORMATS["password"]
    value = (
        template.format(tag=tag, tag12=(tag * 3)[:12].replace("a", "0").replace("w", "1"))
        if template
        else f"{tag}{name[:6]}"
    )
    min_length = int(schema.get("minLength", 0))
    max_length = int(schema.get("maxLength", 0)) or None
    if len(value) < min_length:
        value = value + "x" * (min_length - len(value))
    if max_length is not None and len(value) > max_length:
        value = value[:max_length]
    return value
