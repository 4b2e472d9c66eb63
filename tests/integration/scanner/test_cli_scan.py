"""``apiward scan`` as a user runs it: exit codes, report files, HAR and virtual patches."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import yaml
from typer.testing import CliRunner

from apiward.cli import _register, app
from apiward.policy.model import Route

from .conftest import LAB_AUTH, serve_lab

SARIF_SCHEMA = json.loads(
    (Path(__file__).parents[2] / "unit" / "scanner" / "data" / "sarif-schema-2.1.0.json").read_text()
)
_register()
runner = CliRunner()


def _scan(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["scan", *args])
    return result.exit_code, result.output


def test_findings_exit_one_and_write_reports(tmp_path: Path) -> None:
    sarif = tmp_path / "report.sarif"
    patches = tmp_path / "patches.yaml"
    with serve_lab(False) as base_url:
        code, output = _scan(
            "--spec", f"{base_url}/openapi.json", "--target", base_url, "--auth-file", str(LAB_AUTH),
            "--format", "sarif", "--output", str(sarif), "--patch-out", str(patches),
            "--checks", "sqli,cors,trace-method,ssti", "--fail-on", "high",
        )
    assert code == 1, output
    assert "4 findings, " in output
    assert f"report in {sarif}, HAR in {sarif.with_suffix('.har')}" in output
    document = json.loads(sarif.read_text())
    jsonschema.Draft4Validator(SARIF_SCHEMA).validate(document)
    assert {result["ruleId"] for result in document["runs"][0]["results"]} == {"sqli", "cors", "ssti",
                                                                              "trace-method"}
    har = json.loads(sarif.with_suffix(".har").read_text())
    assert len(har["log"]["entries"]) > 5
    routes = [Route.model_validate(route) for route in yaml.safe_load(patches.read_text())["routes"]]
    assert {route.match.path for route in routes} >= {"/api/v1/products/search", "/api/v1/greetings"}


def test_fail_on_critical_ignores_low(tmp_path: Path) -> None:
    output_file = tmp_path / "report.xml"
    with serve_lab(False) as base_url:
        code, output = _scan(
            "--spec", f"{base_url}/openapi.json", "--target", base_url, "--auth-file", str(LAB_AUTH),
            "--format", "junit", "--output", str(output_file), "--checks", "trace-method",
            "--fail-on", "critical",
        )
    assert code == 0, output
    root = ET.fromstring(output_file.read_text())
    assert root.get("failures") == "1"


def test_fixed_lab_exits_zero(tmp_path: Path) -> None:
    with serve_lab(True) as base_url:
        code, output = _scan(
            "--spec", f"{base_url}/openapi.json", "--target", base_url, "--auth-file", str(LAB_AUTH),
            "--format", "json", "--output", str(tmp_path / "r.json"), "--checks", "sqli,cors,ssti",
            "--fail-on", "low",
        )
    assert code == 0, output
    summary = json.loads((tmp_path / "r.json").read_text())["summary"]
    assert summary["finding"] == 0
    assert summary["passed"] > 0


def test_spec_on_other_origin_refused(tmp_path: Path) -> None:
    with serve_lab(True) as base_url:
        port = int(base_url.rsplit(":", 1)[1])
        other = f"http://127.0.0.1:{port + 1 if port < 65535 else port - 1}/openapi.json"
        code, output = _scan("--spec", other, "--target", base_url, "--har", str(tmp_path / "s.har"))
    assert code == 2
    assert "must be on the target's origin" in output


def test_unreachable_target_exits_two(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text("openapi: 3.0.0\ninfo: {title: t, version: '1'}\npaths: {/a: {get: {responses: {}}}}\n")
    with serve_lab(True) as base_url:
        port = int(base_url.rsplit(":", 1)[1])
    # The server is stopped now, so its port refuses connections.
    code, output = _scan("--spec", str(spec), "--target", f"http://127.0.0.1:{port}",
                         "--har", str(tmp_path / "s.har"))
    assert code == 2
    assert "cannot reach target" in output


def test_usage_errors_exit_two(tmp_path: Path) -> None:
    code, output = _scan("--spec", "x.yaml", "--target", "http://127.0.0.1:9", "--format", "pdf")
    assert code == 2
    assert "invalid --format 'pdf'" in output
    code, output = _scan("--spec", "x.yaml", "--target", "http://127.0.0.1:9", "--checks", "nope")
    assert code == 2
    assert "unknown check 'nope'" in output
    code, output = _scan("--spec", str(tmp_path / "absent.yaml"), "--target", "http://127.0.0.1:9",
                         "--har", str(tmp_path / "s.har"))
    assert code == 2
    assert "cannot read spec" in output


def test_piped_terminal_report_not_cut(tmp_path: Path) -> None:
    har = tmp_path / "scan.har"
    with serve_lab(False) as base_url:
        code, output = _scan(
            "--spec", f"{base_url}/openapi.json", "--target", base_url, "--auth-file", str(LAB_AUTH),
            "--checks", "jwt-bad-signature", "--har", str(har),
        )
    assert code == 1, output
    assert "jwt-bad-signature" in output
    assert "GET /api/v1/users/me" in output
    assert "…" not in output
    assert f"every request and response is in {har}" in output
