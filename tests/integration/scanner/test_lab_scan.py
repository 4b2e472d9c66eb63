"""Scanning the lab API: every hole of holes.yaml is found and nothing else, and each check
passes once its hole is closed."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from apiward.scanner.findings import Status

from .conftest import scan_lab, serve_lab

HOLES = yaml.safe_load((Path(__file__).parents[3] / "src/apiward/lab/holes.yaml").read_text())["holes"]

def _locations(report: object) -> set[tuple[str, str, str]]:
    return {(result.check, result.method, result.path) for result in report.findings()}  # type: ignore[attr-defined]


def test_holes_manifest_covers_every_check() -> None:
    from apiward.scanner.catalog import CHECKS

    assert len(HOLES) == 33
    assert {hole["check"] for hole in HOLES} == set(CHECKS)


def test_open_lab_every_hole_found() -> None:
    with serve_lab(False) as base_url:
        report = scan_lab(base_url)
    found = _locations(report)
    expected = {(hole["check"], hole["method"], hole["path"]) for hole in HOLES}
    for hole in HOLES:
        for location in hole.get("also", []):
            method, path = location.split(" ", 1)
            expected.add((hole["check"], method, path))
    missing = expected - found
    extra = found - expected
    assert not missing, f"holes not found: {sorted(missing)}"
    assert not extra, f"findings that are not holes: {sorted(extra)}"
    assert not [result for result in report.results if result.status is Status.ERROR]


def test_fixed_lab_has_no_findings() -> None:
    with serve_lab(True) as base_url:
        report = scan_lab(base_url)
    assert _locations(report) == set()
    assert not [result for result in report.results if result.status is Status.ERROR]
    passed = {result.check for result in report.results if result.status is Status.PASSED}
    assert len(passed) >= 30


@pytest.mark.parametrize("hole", HOLES, ids=[hole["id"] for hole in HOLES])
def test_check_passes_once_hole_closed(hole: dict[str, str]) -> None:
    with serve_lab({hole["id"]}) as base_url:
        report = scan_lab(base_url, hole["check"])
    location = (hole["check"], hole["method"], hole["path"])
    assert location not in _locations(report)
    statuses = {result.status for result in report.results}
    assert Status.ERROR not in statuses


def test_budget_spent_means_not_run() -> None:
    from apiward.scanner.engine import select_checks
    from apiward.scanner.scan import ScanOptions, run_scan

    from .conftest import LAB_AUTH

    with serve_lab(False) as base_url:
        options = ScanOptions(
            spec=f"{base_url}/openapi.json", target=base_url, auth_file=LAB_AUTH,
            checks=tuple(select_checks(None)), rate=2000, budget=60,
        )
        report = run_scan(options)
    assert report.requests_sent == 60
    budget_results = [result for result in report.results if "budget" in result.detail]
    assert len(budget_results) >= 20
    assert all(result.status is Status.NOT_RUN for result in budget_results)
    last = report.results[-1]
    assert last.check == "login-no-throttle"
    assert last.status is Status.NOT_RUN
