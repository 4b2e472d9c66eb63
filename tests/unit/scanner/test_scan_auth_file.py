"""Auth file loading: valid files, and errors that name the field and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from apiward.scanner.auth import dig, load_auth_file
from apiward.scanner.errors import UsageError

VALID = """
login: {path: /login, token_path: data.token}
register: {path: /signup, body: {email: "{username}@example.test"}}
identities:
  alice: {username: alice, password: a-pass, roles: [user], owns: {order_id: ["7"]}}
  admin: {headers: {X-API-Key: k-123}, roles: [admin]}
dangerous: [GET /reset]
flows:
  - {name: redeem, identity: alice, steps: [{method: POST, path: /redeem, json: {code: X}}]}
"""


def test_valid_file_loads(tmp_path: Path) -> None:
    path = tmp_path / "auth.yaml"
    path.write_text(VALID)
    auth = load_auth_file(path)
    assert auth.login is not None
    assert auth.login.token_path == "data.token"
    assert auth.register_ is not None
    assert auth.identities["alice"].owns == {"order_id": ["7"]}
    assert auth.identities["admin"].headers == {"X-API-Key": "k-123"}
    assert auth.flows[0].steps[0].json_body == {"code": "X"}
    assert auth.dangerous == ["GET /reset"]


def test_no_file_means_anonymous() -> None:
    auth = load_auth_file(None)
    assert auth.identities == {}
    assert auth.login is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("identities: {alice: {username: alice, password: x}}", "has a username but no 'login' block"),
        ("identities: {alice: {user: alice}}", r"identities\.alice\.user: Extra inputs"),
        ("login: {method: POST}", r"login\.path: Field required"),
        (
            "flows: [{name: f, identity: carol, steps: [{method: GET, path: /}]}]",
            "flow 'f' names unknown identity 'carol'",
        ),
        ("login: [", "invalid auth file"),
    ],
)
def test_invalid_files_rejected(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "auth.yaml"
    path.write_text(text)
    with pytest.raises(UsageError, match=message):
        load_auth_file(path)


def test_missing_file_named(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="cannot read auth file"):
        load_auth_file(tmp_path / "absent.yaml")


def test_dig_dotted_paths() -> None:
    document = {"data": {"token": "t"}, "list": [1]}
    assert dig(document, "data.token") == "t"
    assert dig(document, "data.missing") is None
    assert dig(document, "list.0") is None
