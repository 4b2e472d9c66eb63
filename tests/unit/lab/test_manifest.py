"""holes.yaml, the lessons and the scanner auth file agree with each other and with the app."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

import pytest

from apiward.lab.app import create_app
from apiward.lab.holes import HoleSet, hole_ids, load_holes, read_lesson
from apiward.scanner.auth import load_auth_file

CATEGORY = re.compile(r"^API([1-9]|10):2023$|^API8:2019$")


def test_manifest_ids_unique() -> None:
    ids = hole_ids()
    assert len(ids) == 33
    assert len(set(ids)) == len(ids)


@pytest.mark.parametrize("hole", load_holes(), ids=lambda hole: hole.id)
def test_manifest_entry_complete(hole: object) -> None:
    from apiward.lab.holes import Hole

    assert isinstance(hole, Hole)
    assert CATEGORY.match(hole.category), hole.category
    assert hole.method in {"GET", "POST", "PUT", "PATCH", "DELETE", "TRACE"}
    assert hole.path.startswith("/")
    assert hole.description.endswith(".")
    lesson = read_lesson(hole)
    assert lesson.startswith("# ")
    assert f"`{hole.check}`" in lesson
    assert "**Exploit.**" in lesson
    assert "**Gateway.**" in lesson


def test_documented_paths_in_openapi() -> None:
    # Hidden routes (v0, the debug route, the POST that method-switch adds) must stay undocumented.
    paths = create_app().openapi()["paths"]
    hidden = {"old-version", "undocumented-path", "exposed-docs", "method-switch", "trace-method"}
    for hole in load_holes():
        if hole.id in hidden:
            assert hole.method.lower() not in paths.get(hole.path, {}), hole.id
        else:
            assert hole.method.lower() in paths[hole.path], hole.id


def test_openapi_version_and_security() -> None:
    document = create_app().openapi()
    assert document["openapi"].startswith("3.1")
    assert document["paths"]["/api/v1/reports/sales"]["get"]["security"] == [{"HTTPBearer": []}]


def test_hole_set_rejects_unknown_id() -> None:
    with pytest.raises(ValueError, match="unknown hole ids \\['nope'\\]"):
        HoleSet({"sqli", "nope"})


def test_hole_set_rejects_bare_string() -> None:
    with pytest.raises(TypeError, match="not a single string"):
        HoleSet("sqli")


def test_hole_set_modes() -> None:
    assert HoleSet(False).open_ids() == list(hole_ids())
    assert HoleSet(True).open_ids() == []
    assert "sqli" not in HoleSet({"sqli"}).open_ids()
    assert len(HoleSet({"sqli"}).open_ids()) == 32


def test_scan_auth_file_loads() -> None:
    path = Path(str(resources.files("apiward.lab").joinpath("scan-auth.yaml")))
    auth = load_auth_file(path)
    assert sorted(auth.identities) == ["admin", "alice", "bob"]
    assert auth.login is not None
    assert auth.login.path == "/api/v1/auth/login"
    assert [flow.name for flow in auth.flows] == ["redeem-welcome-coupon"]
