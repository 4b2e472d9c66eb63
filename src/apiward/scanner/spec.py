"""Loading of OpenAPI 3.0 / 3.1 and Swagger 2.0 descriptions into :class:`Operation` objects.

Local ``$ref`` pointers (``#/components/...``, ``#/definitions/...``) are resolved; remote
references are not followed, because the scanner contacts only the target's origin.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from apiward.scanner.errors import UsageError

METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
Schema = dict[str, Any]


@dataclass(frozen=True)
class Parameter:
    name: str
    location: str
    """``path``, ``query``, ``header`` or ``cookie``."""
    schema: Schema
    required: bool
    example: Any = None


@dataclass
class Operation:
    method: str
    path: str
    operation_id: str
    tags: list[str] = field(default_factory=list)
    parameters: list[Parameter] = field(default_factory=list)
    body_schema: Schema | None = None
    body_example: Any = None
    body_media_type: str = "application/json"
    responses: dict[str, Schema | None] = field(default_factory=dict)
    security: list[dict[str, list[str]]] = field(default_factory=list)

    @property
    def key(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def path_parameters(self) -> list[Parameter]:
        return [param for param in self.parameters if param.location == "path"]

    @property
    def secured(self) -> bool:
        """True when the operation requires credentials (an empty requirement means optional)."""
        return bool(self.security) and all(requirement for requirement in self.security)

    @property
    def scopes(self) -> list[str]:
        return [scope for requirement in self.security for scopes in requirement.values() for scope in scopes]

    def success_schema(self) -> Schema | None:
        for status in sorted(self.responses):
            if status.startswith("2"):
                return self.responses[status]
        return None


@dataclass
class ApiSpec:
    operations: list[Operation]
    paths: list[str]
    version: str

    def find(self, method: str, path: str) -> Operation | None:
        for operation in self.operations:
            if operation.method == method.upper() and operation.path == path:
                return operation
        return None


def parse_document(text: str, source: str) -> dict[str, Any]:
    """Parse JSON or YAML text into a mapping, naming ``source`` in errors."""
    try:
        document = json.loads(text) if text.lstrip().startswith("{") else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as error:
        raise UsageError(f"invalid spec {source}: not JSON or YAML ({error})") from None
    if not isinstance(document, dict):
        raise UsageError(f"invalid spec {source}: expected a mapping at the top level")
    return document


def load_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise UsageError(f"cannot read spec {path}: {error.strerror}") from None
    return parse_document(text, str(path))


class _Resolver:
    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document

    def resolve(self, node: Any, depth: int = 0) -> Any:
        """Return ``node`` with local $ref pointers replaced, bounded so cycles end."""
        if depth > 12:
            return {}
        if isinstance(node, dict):
            if "$ref" in node and isinstance(node["$ref"], str):
                target = self._lookup(node["$ref"])
                return self.resolve(target, depth + 1)
            return {key: self.resolve(value, depth + 1) for key, value in node.items()}
        if isinstance(node, list):
            return [self.resolve(item, depth + 1) for item in node]
        return node

    def _lookup(self, reference: str) -> Any:
        if not reference.startswith("#/"):
            raise UsageError(f"unsupported $ref {reference!r}: only local references (#/...) are read")
        node: Any = self.document
        for part in reference[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(node, dict) or part not in node:
                raise UsageError(f"invalid $ref {reference!r}: {part!r} not found")
            node = node[part]
        return node


def build_spec(document: dict[str, Any]) -> ApiSpec:
    """Turn a parsed OpenAPI or Swagger document into operations."""
    if "openapi" in document:
        version = str(document["openapi"])
        if not version.startswith("3."):
            raise UsageError(f"unsupported OpenAPI version {version!r}; expected 3.0 or 3.1")
    elif str(document.get("swagger", "")) == "2.0":
        version = "2.0"
    else:
        raise UsageError("invalid spec: no 'openapi: 3.x' or 'swagger: \"2.0\"' field")
    paths = document.get("paths")
    if not isinstance(paths, dict) or not paths:
        raise UsageError("invalid spec: 'paths' is missing or empty")
    resolver = _Resolver(document)
    base_path = str(document.get("basePath", "")).rstrip("/") if version == "2.0" else ""
    global_security = document.get("security") or []
    operations: list[Operation] = []
    for raw_path, item in paths.items():
        if not isinstance(item, dict):
            continue
        item = resolver.resolve(item)
        shared = item.get("parameters") or []
        for method in METHODS:
            raw = item.get(method)
            if isinstance(raw, dict):
                operations.append(
                    _operation(
                        method,
                        base_path + raw_path,
                        raw,
                        shared,
                        global_security,
                        version == "2.0",
                    )
                )
    return ApiSpec(operations, sorted({base_path + path for path in paths}), version)


def _operation(
    method: str, path: str, raw: dict[str, Any], shared: list[Any], global_security: list[Any], swagger2: bool
) -> Operation:
    operation = Operation(
        method=method.upper(),
        path=path,
        operation_id=str(raw.get("operationId") or f"{method.upper()} {path}"),
        tags=[str(tag) for tag in raw.get("tags") or []],
        security=list(raw.get("security", global_security)),
    )
    merged = {
        (p.get("name"), p.get("in")): p for p in shared + (raw.get("parameters") or []) if isinstance(p, dict)
    }
    for param in merged.values():
        location = str(param.get("in"))
        if swagger2 and location == "body":
            operation.body_schema = param.get("schema") or {}
            continue
        if swagger2 and location == "formData":
            _add_form_field(operation, param)
            continue
        schema = param.get("schema") or {k: v for k, v in param.items() if k in ("type", "format", "enum")}
        operation.parameters.append(
            Parameter(
                name=str(param.get("name")),
                location=location,
                schema=schema,
                required=bool(param.get("required")) or location == "path",
                example=param.get("example", schema.get("example")),
            )
        )
    if not swagger2:
        _read_body(operation, raw.get("requestBody"))
    for status, response in (raw.get("responses") or {}).items():
        operation.responses[str(status)] = _response_schema(response, swagger2)
    return operation


def _add_form_field(operation: Operation, param: dict[str, Any]) -> None:
    schema = operation.body_schema or {"type": "object", "properties": {}, "required": []}
    schema["properties"][str(param.get("name"))] = {
        key: value for key, value in param.items() if key in ("type", "format", "enum", "example")
    }
    if param.get("required"):
        schema["required"].append(str(param.get("name")))
    operation.body_schema = schema
    operation.body_media_type = "application/x-www-form-urlencoded"


def _read_body(operation: Operation, body: Any) -> None:
    if not isinstance(body, dict):
        return
    content = body.get("content") or {}
    for media_type in ("application/json", "application/x-www-form-urlencoded", "multipart/form-data"):
        if media_type in content:
            entry = content[media_type] or {}
            operation.body_schema = entry.get("schema") or {}
            operation.body_example = entry.get("example")
            operation.body_media_type = media_type
            return
    for media_type, entry in content.items():
        if "json" in media_type and isinstance(entry, dict):
            operation.body_schema = entry.get("schema") or {}
            operation.body_example = entry.get("example")
            return


def _response_schema(response: Any, swagger2: bool) -> Schema | None:
    if not isinstance(response, dict):
        return None
    if swagger2:
        schema = response.get("schema")
        return schema if isinstance(schema, dict) else None
    for media_type, entry in (response.get("content") or {}).items():
        if "json" in media_type and isinstance(entry, dict) and isinstance(entry.get("schema"), dict):
            found: Schema = entry["schema"]
            return found
    return None
