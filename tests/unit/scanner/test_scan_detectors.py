"""Pure detectors: sensitive values, undeclared fields, write verification, admin words, SSRF fields."""

from __future__ import annotations

import pytest

from apiward.scanner.changes import changed_body, visible_changes
from apiward.scanner.checks.configuration import plain_http_exposed
from apiward.scanner.checks.functions import looks_administrative
from apiward.scanner.checks.properties import _emails, _undeclared, sensitive_values
from apiward.scanner.checks.ssrf import url_fields
from apiward.scanner.spec import Operation, Parameter

CARD_OK = "4111 1111 1111 1111"
CARD_BAD_LUHN = "4111 1111 1111 1112"


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ({"password": "x1"}, [".password (field name)"]),
        ({"user": {"password_hash": "$2b$..."}}, [".user.password_hash (field name)"]),
        ({"note": CARD_OK}, [".note (card number, Luhn valid)"]),
        ({"note": CARD_BAD_LUHN}, []),
        ({"note": "ssn 123-45-6789"}, [".note (national id number)"]),
        ({"token": "abc"}, [".token (field name)"]),
        ({"password": ""}, []),
        ({"name": "alice", "count": 3}, []),
    ],
)
def test_sensitive_values(document: dict[str, object], expected: list[str]) -> None:
    assert sensitive_values(document, None) == expected


def test_declared_token_not_sensitive() -> None:
    schema = {"type": "object", "properties": {"access_token": {"type": "string"}}}
    assert sensitive_values({"access_token": "abc"}, schema) == []
    assert sensitive_values({"password": "abc"}, {"type": "object", "properties": {"password": {}}})


def test_undeclared_nested_and_arrays() -> None:
    schema = {
        "type": "array",
        "items": {"type": "object", "properties": {"id": {"type": "integer"}, "owner": {
            "type": "object", "properties": {"name": {"type": "string"}}}}},
    }
    document = [{"id": 1, "internal": 2, "owner": {"name": "a", "secret_flag": True}}]
    assert _undeclared(document, schema) == {"internal", "secret_flag"}


def test_undeclared_open_schema_ignored() -> None:
    schema = {"type": "object", "properties": {"id": {}}, "additionalProperties": True}
    assert _undeclared({"id": 1, "x": 2}, schema) == set()


def test_changed_body_differs_from_current() -> None:
    schema = {"type": "object", "properties": {
        "quantity": {"type": "integer", "maximum": 100},
        "status": {"anyOf": [{"type": "string", "pattern": "^(open|cancelled)$"}, {"type": "null"}]},
        "gift": {"type": "boolean"},
    }}
    body = changed_body(schema, {"quantity": 100, "status": "open", "gift": False}, "awtag")
    assert body == {"quantity": 99, "status": "cancelled", "gift": True}


def test_visible_changes_needs_before_and_after() -> None:
    sent = {"quantity": 3, "status": "cancelled"}
    assert visible_changes(sent, {"quantity": 1, "status": "open"}, {"quantity": 3, "status": "open"}) == [
        "quantity"
    ]
    assert visible_changes(sent, {"quantity": 3}, {"quantity": 3}) == []


@pytest.mark.parametrize(
    ("path", "tags", "expected"),
    [("/api/admin/users", [], True), ("/internal/stats", [], True), ("/users", ["admin"], True),
     ("/users/{id}", [], False), ("/administrative-notes", [], False)],
)
def test_admin_detection(path: str, tags: list[str], expected: bool) -> None:
    operation = Operation("GET", path, f"get {path}", tags=tags)
    assert looks_administrative(operation) is expected


def test_url_fields_found() -> None:
    operation = Operation(
        "POST", "/hooks", "hooks",
        parameters=[Parameter("callback", "query", {"type": "string"}, False)],
        body_schema={"type": "object", "properties": {"target": {"type": "string", "format": "uri"},
                                                      "name": {"type": "string"}}},
    )
    assert url_fields(operation) == [("query", "callback"), ("body", "target")]


@pytest.mark.parametrize(
    ("origin", "expected"),
    [
        (("http", "127.0.0.1", 8000), False),
        (("http", "localhost", 8000), False),
        (("http", "[::1]", 8000), False),
        (("https", "api.example.test", 443), False),
        (("http", "api.example.test", 80), True),
        (("http", "192.0.2.10", 80), True),
    ],
)
def test_plain_http_outside_loopback(origin: tuple[str, str, int], expected: bool) -> None:
    assert plain_http_exposed(origin) is expected


def test_emails_collected_distinct() -> None:
    users = [{"email": "A@example.test"}, {"email": "a@example.test"}, {"email": "b@example.test"}]
    document = {"users": [*users, {"name": "not-an@address"}]}
    assert _emails(document) == {"a@example.test", "b@example.test"}
