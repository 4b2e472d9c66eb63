"""`apiward scan` against the lab over real sockets: every hole found when open, none when fixed."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import resources
from pathlib import Path

import pytest
from lab_processes import free_port_base, start_apiward, stop
from test_serve import wait_healthy

from apiward.lab.holes import load_holes

AUTH_FILE = Path(str(resources.files("apiward.lab").joinpath("scan-auth.yaml")))


def scan_lab(tmp_path: Path, *serve_flags: str) -> dict[str, set[str]]:
    """Serve the lab, scan it, and return the check names by result status."""
    port = free_port_base(1)
    target = f"http://127.0.0.1:{port}"
    lab = start_apiward("lab", "serve", "--port", str(port), *serve_flags, read_output=False)
    try:
        wait_healthy(f"{target}/health")
        report = tmp_path / "scan.json"
        command = [
            sys.executable,
            "-m",
            "apiward",
            "scan",
            "--spec",
            f"{target}/openapi.json",
            "--target",
            target,
            "--auth-file",
            str(AUTH_FILE),
            "--format",
            "json",
            "--output",
            str(report),
            "--har",
            str(tmp_path / "scan.har"),
            "--rate",
            "200",
        ]
        subprocess.run(command, cwd=tmp_path, capture_output=True, timeout=300, check=False)
    finally:
        stop(lab)

    statuses: dict[str, set[str]] = {}
    for result in json.loads(report.read_text())["results"]:
        statuses.setdefault(result["status"], set()).add(result["check"])
    return statuses


@pytest.mark.slow
def test_scan_finds_every_open_hole(tmp_path: Path) -> None:
    statuses = scan_lab(tmp_path)
    expected = {hole.check for hole in load_holes()}
    assert len(expected) == 33
    assert expected - statuses.get("finding", set()) == set()
    assert statuses.get("error", set()) == set()


@pytest.mark.slow
def test_scan_finds_nothing_when_fixed(tmp_path: Path) -> None:
    statuses = scan_lab(tmp_path, "--fixed")
    assert statuses.get("finding", set()) == set()
    assert statuses.get("error", set()) == set()
    assert len(statuses["passed"]) >= 25
