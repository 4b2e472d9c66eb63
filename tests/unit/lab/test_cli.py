"""`apiward lab` command guards: loopback only unless forced, and clear errors for bad input."""

from __future__ import annotations

import socket

import pytest
from typer.testing import CliRunner

from apiward.cli import _register, app
from apiward.lab import serve as serve_module

_register()
runner = CliRunner()


def test_serve_rejects_remote_host() -> None:
    result = runner.invoke(app, ["lab", "serve", "--host", "0.0.0.0"])
    assert result.exit_code == 2
    assert "only loopback addresses are allowed" in result.output
    assert "--i-understand-this-is-vulnerable" in result.output


def test_serve_rejects_unknown_hole() -> None:
    result = runner.invoke(app, ["lab", "serve", "--fix", "nope"])
    assert result.exit_code == 2
    assert "unknown hole ids ['nope']" in result.output


def test_serve_port_taken() -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        result = runner.invoke(app, ["lab", "serve", "--port", str(port)])
    assert result.exit_code == 2
    assert f"cannot listen on 127.0.0.1:{port}" in result.output


def test_holes_lists_every_hole() -> None:
    result = runner.invoke(app, ["lab", "holes"])
    assert result.exit_code == 0
    assert len(result.output.splitlines()) == 33


def test_lesson_prints_markdown() -> None:
    result = runner.invoke(app, ["lab", "lesson", "sqli"])
    assert result.exit_code == 0
    assert result.output.startswith("The commands below use $LAB, $ALICE and $BOB.")
    assert "ALICE=$(login alice alice-pass-1)" in result.output
    assert "\n# SQL injection" in result.output


def test_lesson_unknown_id() -> None:
    result = runner.invoke(app, ["lab", "lesson", "nope"])
    assert result.exit_code == 2
    assert "unknown hole id 'nope'" in result.output


def test_serve_remote_host_warns_when_forced(monkeypatch: pytest.MonkeyPatch) -> None:
    # The server is replaced by a recorder, so nothing binds the non-loopback address.
    calls: list[tuple[object, ...]] = []
    monkeypatch.setattr(serve_module, "serve_lab", lambda *arguments: calls.append(arguments))
    result = runner.invoke(app, ["lab", "serve", "--host", "192.0.2.1", "--i-understand-this-is-vulnerable"])
    assert result.exit_code == 0
    assert "WARNING: the lab API is deliberately vulnerable" in result.output
    assert calls == [("192.0.2.1", 8801, set(), "info")]


def test_serve_passes_fixed_holes(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[object, ...]] = []
    monkeypatch.setattr(serve_module, "serve_lab", lambda *arguments: calls.append(arguments))
    result = runner.invoke(app, ["lab", "serve", "--fix", "sqli", "--fix", "ssti", "--port", "9999"])
    assert result.exit_code == 0
    assert "WARNING" not in result.output
    assert calls == [("127.0.0.1", 9999, {"sqli", "ssti"}, "info")]
