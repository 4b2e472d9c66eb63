"""Schema-aware inspection: fields an OpenAPI document types and that validate are not scanned."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from apiward.waf.engine import Engine, Settings
from apiward.waf.openapi import ApiSchema, OpenApiError, compile_schema, load_schema
from apiward.waf.request import HttpRequest

SPEC: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "reports", "version": "1"},
    "servers": [{"url": "https://api.example.test/v1"}],
    "paths": {
        "/reports": {
            "get": {
                "parameters": [
                    {"name": "limit", "in": "query", "schema": {"type": "integer"}},
                    {"name": "since", "in": "query", "schema": {"type": "string", "format": "date-time"}},
                    {"name": "ids", "in": "query", "schema": {"type": "array", "items": {"type": "integer"}}},
                    {"name": "q", "in": "query", "schema": {"type": "string"}},
                    {"name": "X-Tenant", "in": "header", "schema": {"type": "string", "format": "uuid"}},
                ]
            },
            "post": {
                "requestBody": {
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Report"}}}
                }
            },
        },
        "/reports/{reportId}": {
            "parameters": [{"$ref": "#/components/parameters/ReportId"}],
            "get": {},
        },
        "/notes/{slug}": {
            "get": {"parameters": [{"name": "slug", "in": "path", "schema": {"type": "string"}}]}
        },
    },
    "components": {
        "parameters": {
            "ReportId": {
                "name": "reportId",
                "in": "path",
                "required": True,
                "schema": {"type": "string", "format": "uuid"},
            }
        },
        "schemas": {
            "Report": {
                "allOf": [{"$ref": "#/components/schemas/Base"}],
                "type": "object",
                "properties": {
                    "quantity": {"type": "integer"},
                    "ratio": {"type": ["number", "null"]},
                    "public": {"type": "boolean"},
                    "template": {"enum": ["select", "union", "union select", "select * from"]},
                    "owner": {"type": "string", "format": "email"},
                    "title": {"type": "string"},
                    "lines": {"type": "array", "items": {"$ref": "#/components/schemas/Line"}},
                },
            },
            "Base": {"properties": {"created": {"type": "string", "format": "date-time"}}},
            "Line": {
                "type": "object",
                "properties": {"position": {"type": "integer"}, "text": {"type": "string"}},
            },
        },
    },
}
HEADERS = [("host", "api.example.test"), ("content-type", "application/json")]


@pytest.fixture(scope="module")
def schema_engine() -> Engine:
    return Engine(Settings(paranoia=1), schema=compile_schema(SPEC, "spec"))


def _post(document: dict[str, Any], path: str = "/v1/reports") -> HttpRequest:
    return HttpRequest("POST", path, "", HEADERS, orjson.dumps(document))


def test_integer_field_with_sql_blocked(schema_engine: Engine) -> None:
    decision = schema_engine.inspect(_post({"quantity": "1 OR 1=1"}))
    assert decision.blocked
    assert "body.$.quantity" not in decision.typed
    assert any(match.location == "body.$.quantity" for match in decision.matches)


def test_valid_typed_fields_not_scanned(schema_engine: Engine) -> None:
    document = {
        "quantity": "3",
        "ratio": "0.25",
        "public": "true",
        "owner": "ana.lopez+reports@example.test",
        "created": "2026-12-04T10:00:00Z",
        "lines": [{"position": "1", "text": "first"}],
    }
    decision = schema_engine.inspect(_post(document))
    assert not decision.blocked
    assert set(decision.typed) == {
        "path",
        "body.$.quantity",
        "body.$.ratio",
        "body.$.public",
        "body.$.owner",
        "body.$.created",
        "body.$.lines[0].position",
    }
    assert "body.$.lines[0].text" not in decision.typed


def test_enum_value_like_sql_passes(engine: Engine, schema_engine: Engine) -> None:
    request = _post({"template": "union select"})
    assert engine.inspect(request).blocked
    decision = schema_engine.inspect(request)
    assert not decision.blocked
    assert decision.typed == ["path", "body.$.template"]


def test_value_outside_enum_scanned(schema_engine: Engine) -> None:
    decision = schema_engine.inspect(_post({"template": "union select password from users"}))
    assert decision.blocked
    assert decision.typed == ["path"]


def test_free_text_attack_blocked(schema_engine: Engine) -> None:
    document = {"title": "x' union select password from users--", "quantity": "2"}
    decision = schema_engine.inspect(_post(document))
    assert decision.blocked
    assert decision.typed == ["path", "body.$.quantity"]
    assert decision.top is not None
    assert decision.top.location == "body.$.title"


def test_email_with_quote_scanned(schema_engine: Engine) -> None:
    decision = schema_engine.inspect(_post({"owner": "a'or'1'='1@example.test"}))
    assert decision.typed == ["path"]
    assert decision.blocked


def test_query_and_header_typed(schema_engine: Engine) -> None:
    headers = [("host", "api.example.test"), ("x-tenant", "6f1c2b8e-5d0a-4c1e-9a57-3b2f8e4d7c10")]
    query = "limit=10&since=2026-01-01T00:00:00%2B01:00&ids=1,2,3&q=red"
    request = HttpRequest("GET", "/reports", query, headers)
    decision = schema_engine.inspect(request)
    assert "query.limit" in decision.typed
    assert "query.ids" in decision.typed
    assert "header.x-tenant" in decision.typed
    assert "query.q" not in decision.typed
    assert "query.since" not in decision.typed


def test_encoded_attack_in_integer_query(schema_engine: Engine) -> None:
    request = HttpRequest("GET", "/reports", "limit=1%20OR%201%3D1", [("host", "api.example.test")])
    decision = schema_engine.inspect(request)
    assert decision.typed == ["path"]
    assert decision.blocked


def test_typed_path_parameter_skips_path(schema_engine: Engine) -> None:
    request = HttpRequest("GET", "/v1/reports/6f1c2b8e-5d0a-4c1e-9a57-3b2f8e4d7c10", "", [("host", "a.test")])
    assert schema_engine.inspect(request).typed == ["path"]


def test_untyped_path_parameter_scanned(schema_engine: Engine) -> None:
    request = HttpRequest("GET", "/notes/..%2f..%2fetc%2fpasswd", "", [("host", "a.test")])
    decision = schema_engine.inspect(request)
    assert decision.typed == []
    assert decision.blocked


def test_unknown_operation_scans_everything(schema_engine: Engine) -> None:
    decision = schema_engine.inspect(_post({"quantity": "3"}, path="/other"))
    assert decision.typed == []
    decision = schema_engine.inspect(
        HttpRequest("DELETE", "/v1/reports", "limit=5", [("host", "api.example.test")])
    )
    assert decision.typed == []


def test_oneof_types_only_shared_fields() -> None:
    card = {"properties": {"amount": {"type": "integer"}, "memo": {"type": "string"}}}
    gift = {"properties": {"amount": {"type": "number"}, "memo": {"enum": ["gift"]}}}
    spec = {
        "openapi": "3.0.3",
        "paths": {
            "/pay": {
                "post": {
                    "requestBody": {
                        "content": {
                            "application/json": {
                                "schema": {"oneOf": [card, gift]}
                            }
                        }
                    }
                }
            }
        },
    }
    validators = compile_schema(spec).validators_for("POST", "/pay")
    assert validators is not None
    assert set(validators) == {"path", "body.$.amount"}
    assert validators["body.$.amount"]("2.5")
    assert not validators["body.$.amount"]("2 or 1")


def test_load_yaml_document(tmp_path: Path) -> None:
    path = tmp_path / "api.yaml"
    path.write_text(yaml.safe_dump(SPEC))
    schema = load_schema(path)
    assert isinstance(schema, ApiSchema)
    assert schema.validators_for("GET", "/reports") is not None


def test_external_ref_rejected() -> None:
    spec = {"openapi": "3.0.0", "paths": {"/a": {"$ref": "other.yaml#/paths/a"}}}
    with pytest.raises(OpenApiError, match="not local"):
        compile_schema(spec, "api.yaml")


def test_missing_ref_rejected() -> None:
    spec = {"openapi": "3.0.0", "paths": {"/a": {"get": {"parameters": [{"$ref": "#/components/x"}]}}}}
    with pytest.raises(OpenApiError, match="not found"):
        compile_schema(spec, "api.yaml")


def test_swagger_document_rejected(tmp_path: Path) -> None:
    path = tmp_path / "swagger.json"
    path.write_bytes(orjson.dumps({"swagger": "2.0", "paths": {}}))
    with pytest.raises(OpenApiError, match=r"not an OpenAPI 3\.0 or 3\.1"):
        load_schema(path)


def test_unreadable_document_rejected(tmp_path: Path) -> None:
    with pytest.raises(OpenApiError, match="failed to read"):
        load_schema(tmp_path / "absent.yaml")


def test_recursive_schema_compiles() -> None:
    spec = {
        "openapi": "3.0.0",
        "paths": {
            "/tree": {
                "post": {
                    "requestBody": {
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Node"}}}
                    }
                }
            }
        },
        "components": {
            "schemas": {
                "Node": {
                    "properties": {
                        "size": {"type": "integer"},
                        "children": {"type": "array", "items": {"$ref": "#/components/schemas/Node"}},
                    }
                }
            }
        },
    }
    validators = compile_schema(spec).validators_for("POST", "/tree")
    assert validators is not None
    assert "body.$.size" in validators
    assert "body.$.children[*].size" in validators
