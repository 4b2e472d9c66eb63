"""Report formats: SARIF against the official schema, JUnit, JSON, HTML and patches."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import yaml

from apiward.policy.model import Route
from apiward.scanner.engine import ScanReport
from apiward.scanner.patches import build_patches
from apiward.scanner.reports import render, report_to_dict
from apiward.scanner.reports.sarif import build as build_sarif

SCHEMA = json.loads((Path(__file__).parent / "data" / "sarif-schema-2.1.0.json").read_text())


def test_sarif_validates_against_schema(sample_report: ScanReport) -> None:
    document = build_sarif(sample_report)
    jsonschema.Draft4Validator(SCHEMA).validate(document)
    assert document["version"] == "2.1.0"


def test_sarif_lists_only_findings(sample_report: ScanReport) -> None:
    run = build_sarif(sample_report)["runs"][0]
    assert [result["ruleId"] for result in run["results"]] == ["bola-read", "sqli"]
    notes = run["invocations"][0]["toolExecutionNotifications"]
    assert len(notes) == 2
    assert run["invocations"][0]["executionSuccessful"] is False


def test_sarif_schema_rejects_broken_log() -> None:
    validator = jsonschema.Draft4Validator(SCHEMA)
    assert not validator.is_valid({"version": "2.1.0", "runs": [{"tool": {}}]})


def test_junit_maps_statuses(sample_report: ScanReport) -> None:
    root = ET.fromstring(render(sample_report, "junit"))
    cases = {case.get("classname"): case for case in root.iter("testcase")}
    assert len(cases) == 5
    assert cases["apiward.scan.bola-read"].find("failure") is not None
    assert cases["apiward.scan.ssrf"].find("skipped") is not None
    assert cases["apiward.scan.redos"].find("error") is not None
    assert len(list(cases["apiward.scan.cors"])) == 0
    assert root.get("failures") == "2"


def test_json_carries_categories(sample_report: ScanReport) -> None:
    document = json.loads(render(sample_report, "json"))
    first = document["results"][0]
    assert first["owasp_2023"].startswith("API1:2023")
    assert first["owasp_2019"].startswith("API1:2019")
    assert first["cwe"] == "CWE-639"
    assert first["evidence"][0]["response"]["status"] == 200
    assert document["summary"] == {"finding": 2, "passed": 1, "error": 1, "not run": 1}
    assert first["gateway_policy"] == {"authz": {}}
    assert document["results"][1]["gateway_policy"] == {"waf": {}}
    assert document["results"][2]["gateway_policy"] is None


def test_html_escapes_and_stays_local(sample_report: ScanReport) -> None:
    page = render(sample_report, "html")
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "Content-Security-Policy" in page
    assert 'src="http' not in page
    assert "<link" not in page


def test_terminal_plain_lists_findings(sample_report: ScanReport) -> None:
    text = render(sample_report, "terminal")
    assert "[critical] sqli GET /search" in text
    assert "2 findings, 1 passed, 1 errors, 1 not run" in text


def test_report_dict_has_every_result(sample_report: ScanReport) -> None:
    assert len(report_to_dict(sample_report)["results"]) == 5


def test_patches_are_valid_routes(sample_report: ScanReport) -> None:
    document = yaml.safe_load(build_patches(sample_report))
    routes = [Route.model_validate(route) for route in document["routes"]]
    assert [route.match.path for route in routes] == ["/orders/{id}", "/search"]
    assert routes[0].authz is not None
    assert routes[1].waf is not None
