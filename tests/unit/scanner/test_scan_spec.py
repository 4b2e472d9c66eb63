"""Spec loading: OpenAPI 3 and Swagger 2 into operations, and clear errors on bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from apiward.scanner.errors import UsageError
from apiward.scanner.spec import build_spec, load_file, parse_document

OPENAPI3 = """
openapi: 3.0.3
info: {title: t, version: "1"}
security: [{bearer: []}]
components:
  securitySchemes: {bearer: {type: http, scheme: bearer}}
  schemas:
    Order:
      type: object
      properties: {id: {type: integer}, note: {type: string}}
paths:
  /orders/{order_id}:
    parameters:
      - {name: order_id, in: path, required: true, schema: {type: integer}}
    get:
      tags: [orders]
      responses:
        "200":
          description: ok
          content: {application/json: {schema: {$ref: "#/components/schemas/Order"}}}
  /public:
    get:
      security: []
      parameters: [{name: limit, in: query, schema: {type: integer}}]
      responses: {"200": {description: ok}}
    post:
      requestBody:
        content: {application/json: {schema: {$ref: "#/components/schemas/Order"}}}
      responses: {"201": {description: created}}
"""

SWAGGER2 = """
swagger: "2.0"
info: {title: t, version: "1"}
basePath: /api
paths:
  /login:
    post:
      parameters:
        - {name: body, in: body, schema: {type: object, properties: {user: {type: string}}}}
      responses: {"200": {description: ok, schema: {type: object}}}
  /upload:
    post:
      consumes: [application/x-www-form-urlencoded]
      parameters:
        - {name: file_name, in: formData, type: string, required: true}
      responses: {"200": {description: ok}}
"""


def test_openapi3_operations() -> None:
    spec = build_spec(parse_document(OPENAPI3, "test"))
    assert [operation.key for operation in spec.operations] == [
        "GET /orders/{order_id}", "GET /public", "POST /public",
    ]
    order = spec.operations[0]
    assert order.path_parameters[0].name == "order_id"
    assert order.secured
    assert order.success_schema() == {"type": "object", "properties": {"id": {"type": "integer"},
                                                                      "note": {"type": "string"}}}


def test_openapi3_security_override() -> None:
    spec = build_spec(parse_document(OPENAPI3, "test"))
    public = spec.find("GET", "/public")
    assert public is not None
    assert not public.secured
    assert public.parameters[0].location == "query"


def test_openapi3_request_body_resolved() -> None:
    post = build_spec(parse_document(OPENAPI3, "test")).find("POST", "/public")
    assert post is not None
    assert post.body_schema is not None
    assert "note" in post.body_schema["properties"]


def test_swagger2_body_form_and_base_path() -> None:
    spec = build_spec(parse_document(SWAGGER2, "test"))
    login = spec.find("POST", "/api/login")
    upload = spec.find("POST", "/api/upload")
    assert login is not None and upload is not None
    assert login.body_schema == {"type": "object", "properties": {"user": {"type": "string"}}}
    assert upload.body_media_type == "application/x-www-form-urlencoded"
    assert upload.body_schema is not None
    assert upload.body_schema["required"] == ["file_name"]
    assert spec.version == "2.0"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("openapi: 2.5\npaths: {/a: {}}", "unsupported OpenAPI version"),
        ("info: {}\npaths: {/a: {}}", "no 'openapi: 3.x'"),
        ("openapi: 3.0.0\npaths: {}", "'paths' is missing or empty"),
        ("- a\n- b", "expected a mapping"),
        (
            "openapi: 3.0.0\npaths:\n  /a:\n    get:\n      parameters: [{$ref: 'other.yaml#/p'}]",
            "only local",
        ),
        ("{not json", "not JSON or YAML"),
    ],
)
def test_invalid_specs_rejected(text: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        build_spec(parse_document(text, "test"))


def test_missing_file_named(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="cannot read spec"):
        load_file(tmp_path / "absent.yaml")
