"""Schema-aware inspection: which request fields an OpenAPI document types narrowly enough to skip.

A value that the route's OpenAPI 3.0 or 3.1 document types as integer, number, boolean, enum,
uuid, date, date-time or email, and that validates against that type, cannot carry a payload, so
the engine does not scan it. A value that fails validation, and every value the document does
not type (free text, unknown fields, unknown operations), is scanned as usual.

The document is compiled once: per operation, a map from field location (as the engine names
fields: ``query.limit``, ``header.x-tenant``, ``cookie.lang``, ``body.$.items[*].qty``) to a
validator, so a request pays one dict lookup and one cheap check per field.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson
import yaml

Validator = Callable[[str], object]
"""A check that returns a truthy value when a field value is valid for its schema."""

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
ARRAY_INDEX = re.compile(r"\[\d+\]")
"""Array indexes in a field location; the compiled maps use ``[*]`` for every element."""
_MAX_SCHEMA_DEPTH = 32
_CACHE_MAX = 4096
_INTEGER = re.compile(r"-?[0-9]{1,40}")
_NUMBER = re.compile(r"-?(?:[0-9]{1,40}(?:\.[0-9]{0,40})?|\.[0-9]{1,40})(?:[eE][+-]?[0-9]{1,4})?")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_DATE_TIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,9})?"
    r"(?:[Zz]|[+-][0-9]{2}:[0-9]{2})"
)
_EMAIL = re.compile(r"[A-Za-z0-9._+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63}){1,8}")
"""A narrower address form than RFC 5322 allows: quotes, ``%`` and ``'`` in the local part fail
validation, so such addresses are scanned instead of skipped."""
_FORMATS: dict[str, Validator] = {
    "uuid": _UUID.fullmatch,
    "date": _DATE.fullmatch,
    "date-time": _DATE_TIME.fullmatch,
    "email": _EMAIL.fullmatch,
}
_BOOLEANS = frozenset({"true", "false"})


class OpenApiError(ValueError):
    """An OpenAPI document that cannot be read or compiled."""


def _accept(_value: str) -> bool:
    return True


@dataclass(frozen=True, slots=True)
class Operation:
    """One compiled operation: its path template and the validators of its typed fields."""

    method: str
    template: str
    pattern: re.Pattern[str]
    path_validators: tuple[Validator | None, ...]
    """One entry per path parameter, in template order; None for an untyped parameter."""
    validators: dict[str, Validator]

    def validators_for(self, path: str) -> dict[str, Validator] | None:
        """Return the field validators for a request on ``path``, or None when it does not match.

        The ``path`` field itself is skipped only when every path parameter is typed and valid.
        """
        found = self.pattern.fullmatch(path)
        if found is None:
            return None
        for value, check in zip(found.groups(), self.path_validators, strict=True):
            if check is None or not check(value):
                return self.validators
        return {**self.validators, "path": _accept}


class ApiSchema:
    """The compiled operations of one OpenAPI document, looked up by method and path."""

    def __init__(self, operations: list[Operation], source: str = "") -> None:
        self.source = source
        self.operations = sorted(operations, key=_specificity)
        self._cache: dict[tuple[str, str], dict[str, Validator] | None] = {}

    def validators_for(self, method: str, path: str) -> dict[str, Validator] | None:
        """Return the validators for the operation serving ``method`` and ``path``, or None."""
        key = (method, path)
        try:
            return self._cache[key]
        except KeyError:
            pass
        found = self._find(method.lower(), path)
        # Caching stops when the cache is full, so random paths cannot evict the common ones.
        if len(self._cache) < _CACHE_MAX:
            self._cache[key] = found
        return found

    def _find(self, method: str, path: str) -> dict[str, Validator] | None:
        for operation in self.operations:
            if operation.method == method:
                validators = operation.validators_for(path)
                if validators is not None:
                    return validators
        return None


def field_validator(validators: dict[str, Validator], location: str) -> Validator | None:
    """Return the validator of the field at ``location``, with array indexes read as ``[*]``."""
    if "[" in location:
        location = ARRAY_INDEX.sub("[*]", location)
    return validators.get(location)


def load_schema(path: Path) -> ApiSchema:
    """Read and compile an OpenAPI document in YAML or JSON."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise OpenApiError(
            f"failed to read OpenAPI document {path}: {error.strerror}; check the waf block's openapi path"
        ) from None
    try:
        document = orjson.loads(data) if path.suffix == ".json" else yaml.safe_load(data)
    except (orjson.JSONDecodeError, yaml.YAMLError) as error:
        raise OpenApiError(f"OpenAPI document {path} is not valid JSON or YAML: {error}") from None
    return compile_schema(document, str(path))


def compile_schema(document: Any, source: str = "") -> ApiSchema:
    """Compile a parsed OpenAPI 3.0 or 3.1 document into per-operation validator maps."""
    if not isinstance(document, dict) or not str(document.get("openapi", "")).startswith("3."):
        raise OpenApiError(
            f"{source or 'document'} is not an OpenAPI 3.0 or 3.1 document (missing 'openapi: 3.x')"
        )
    paths = document.get("paths")
    if not isinstance(paths, dict):
        raise OpenApiError(f"{source or 'document'} has no 'paths' object")
    compiler = _Compiler(document, source)
    prefixes = _server_prefixes(document.get("servers"))
    operations: list[Operation] = []
    for template, item in paths.items():
        item = compiler.resolve(item)
        if not isinstance(item, dict):
            continue
        shared = item.get("parameters", [])
        for method in HTTP_METHODS:
            spec = item.get(method)
            if isinstance(spec, dict):
                operations.extend(compiler.operation(method, str(template), spec, shared, prefixes))
    return ApiSchema(operations, source)


def _specificity(operation: Operation) -> tuple[int, int]:
    # Concrete paths win over templated ones, as the OpenAPI specification requires.
    return (len(operation.path_validators), -len(operation.template))


def _server_prefixes(servers: Any) -> list[str]:
    prefixes = {""}
    for server in servers if isinstance(servers, list) else []:
        if not isinstance(server, dict) or not isinstance(server.get("url"), str):
            continue
        url = server["url"]
        for name, variable in (server.get("variables") or {}).items():
            if isinstance(variable, dict) and "default" in variable:
                url = url.replace("{" + str(name) + "}", str(variable["default"]))
        prefix = urlsplit(url).path.rstrip("/") if "://" in url else url.rstrip("/")
        if "{" not in prefix:
            prefixes.add(prefix)
    return sorted(prefixes, key=len, reverse=True)


class _Compiler:
    def __init__(self, document: dict[str, Any], source: str) -> None:
        self.document = document
        self.source = source

    def resolve(self, node: Any, seen: tuple[str, ...] = ()) -> Any:
        """Follow local ``$ref`` pointers until a node without one."""
        while isinstance(node, dict) and "$ref" in node:
            reference = node["$ref"]
            if not isinstance(reference, str) or not reference.startswith("#"):
                raise OpenApiError(
                    f"$ref {reference!r} in {self.source or 'document'} is not local; "
                    "bundle the document into one file"
                )
            if reference in seen:
                return {}
            seen = (*seen, reference)
            node = self._pointer(reference)
        return node

    def _pointer(self, reference: str) -> Any:
        node: Any = self.document
        for part in reference[1:].split("/")[1:]:
            key = part.replace("~1", "/").replace("~0", "~")
            if isinstance(node, dict) and key in node:
                node = node[key]
            elif isinstance(node, list) and key.isdigit() and int(key) < len(node):
                node = node[int(key)]
            else:
                raise OpenApiError(f"$ref {reference!r} not found in {self.source or 'document'}")
        return node

    def operation(
        self, method: str, template: str, spec: dict[str, Any], shared: Any, prefixes: list[str]
    ) -> Iterable[Operation]:
        parameters: dict[tuple[str, str], dict[str, Any]] = {}
        for raw in [*(shared if isinstance(shared, list) else []), *spec.get("parameters", [])]:
            parameter = self.resolve(raw)
            if isinstance(parameter, dict) and "name" in parameter and "in" in parameter:
                parameters[(str(parameter["in"]), str(parameter["name"]))] = parameter
        validators: dict[str, Validator] = {}
        path_checks: dict[str, Validator | None] = {}
        for (place, name), parameter in parameters.items():
            check = self.scalar(self.resolve(parameter.get("schema")), lists=True)
            if place == "path":
                path_checks[name] = check
            elif check is not None and place in ("query", "header", "cookie"):
                key = name.lower() if place == "header" else name
                validators[f"{place}.{key}"] = check
        validators.update(self.request_body(spec.get("requestBody")))
        names = re.findall(r"\{([^{}/]+)\}", template)
        body = re.sub(r"\\\{[^{}/]+\\\}", "([^/]+)", re.escape(template))
        for prefix in prefixes:
            yield Operation(
                method,
                prefix + template,
                re.compile(re.escape(prefix) + body),
                tuple(path_checks.get(name) for name in names),
                validators,
            )

    def request_body(self, raw: Any) -> dict[str, Validator]:
        body = self.resolve(raw)
        content = body.get("content") if isinstance(body, dict) else None
        if not isinstance(content, dict):
            return {}
        json_maps: list[dict[str, Validator]] = []
        form: dict[str, Validator] = {}
        for media_type, entry in content.items():
            schema = self.resolve(entry.get("schema")) if isinstance(entry, dict) else None
            if "json" in str(media_type):
                json_maps.append(self.fields(schema, "body.$", 0))
            elif "x-www-form-urlencoded" in str(media_type):
                form = self.fields(schema, "body", 0)
        merged = _intersect(json_maps) if json_maps else {}
        return {**merged, **form}

    def fields(self, schema: Any, location: str, depth: int) -> dict[str, Validator]:
        """Map every typed leaf under ``schema`` to its validator, by field location."""
        schema = self.resolve(schema)
        if not isinstance(schema, dict) or depth > _MAX_SCHEMA_DEPTH:
            return {}
        found: dict[str, Validator] = {}
        for part in schema.get("allOf", []):
            for key, check in self.fields(part, location, depth + 1).items():
                found.setdefault(key, check)
        alternatives = [*schema.get("oneOf", []), *schema.get("anyOf", [])]
        if alternatives:
            maps = [self.fields(part, location, depth + 1) for part in alternatives]
            for key, check in _intersect(maps).items():
                found.setdefault(key, check)
        leaf = self.scalar(schema)
        if leaf is not None:
            found.setdefault(location, leaf)
        properties = schema.get("properties")
        if isinstance(properties, dict):
            for name, child in properties.items():
                found.update(self.fields(child, f"{location}.{name}", depth + 1))
        items = schema.get("items")
        if items is not None and "array" in _types(schema):
            found.update(self.fields(items, f"{location}[*]", depth + 1))
        return found

    def scalar(self, schema: Any, *, lists: bool = False) -> Validator | None:
        """Return the validator of a narrowly typed scalar schema, or None for free text."""
        schema = self.resolve(schema)
        if not isinstance(schema, dict):
            return None
        if "const" in schema:
            return frozenset({_text(schema["const"])}).__contains__
        if isinstance(schema.get("enum"), list) and schema["enum"]:
            return frozenset(_text(item) for item in schema["enum"] if item is not None).__contains__
        types = _types(schema)
        if lists and types == {"array"}:
            item = self.scalar(schema.get("items"))
            return None if item is None else _each_item(item)
        if types == {"integer"}:
            return _INTEGER.fullmatch
        if types <= {"number", "integer"} and types:
            return _NUMBER.fullmatch
        if types == {"boolean"}:
            return _BOOLEANS.__contains__
        if types == {"string"}:
            return _FORMATS.get(str(schema.get("format", "")))
        return None


def _types(schema: dict[str, Any]) -> set[str]:
    declared = schema.get("type")
    if isinstance(declared, list):
        names = declared
    elif declared:
        names = [declared]
    else:
        names = []
    return {str(name) for name in names if name != "null"}


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _each_item(check: Validator) -> Validator:
    """Validate a list parameter sent as ``1,2,3`` or repeated as ``x=1&x=2``."""

    def validate(value: str) -> bool:
        return all(check(part) for part in value.split(","))

    return validate


def _intersect(maps: list[dict[str, Validator]]) -> dict[str, Validator]:
    """Keep the locations every alternative types; a value valid under any of them is skipped."""
    if not maps:
        return {}
    shared = set(maps[0]).intersection(*maps[1:])
    result: dict[str, Validator] = {}
    for key in shared:
        checks = [item[key] for item in maps]
        result[key] = checks[0] if len(checks) == 1 else _any_of(checks)
    return result


def _any_of(checks: list[Validator]) -> Validator:
    def validate(value: str) -> bool:
        return any(check(value) for check in checks)

    return validate
