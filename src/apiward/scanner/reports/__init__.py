"""Report formats of a scan: terminal, JSON, SARIF 2.1.0, HTML and JUnit XML."""

from __future__ import annotations

from typing import Any

from apiward.scanner.catalog import CHECKS
from apiward.scanner.engine import ScanReport
from apiward.scanner.findings import Result, Status

FORMATS = ("terminal", "json", "sarif", "html", "junit")


def result_to_dict(result: Result, documented: dict[str, list[str]] | None = None) -> dict[str, Any]:
    from apiward.scanner.patches import gateway_policy

    info = CHECKS[result.check]
    policy = gateway_policy(result, documented or {}) if result.status is Status.FINDING else None
    return {
        "check": result.check,
        "title": info.title,
        "method": result.method,
        "path": result.path,
        "status": result.status.value,
        "severity": result.severity.label if result.severity is not None else None,
        "owasp_2023": f"{info.category.owasp_2023} {info.category.name_2023}",
        "owasp_2019": info.category.name_2019,
        "cwe": f"CWE-{info.cwe}",
        "detail": result.detail,
        "remediation": info.remediation,
        "gateway_stage": info.patch or None,
        "gateway_policy": policy,
        "evidence": [record.to_dict() for record in result.evidence],
    }


def report_to_dict(report: ScanReport) -> dict[str, Any]:
    return {
        "tool": {"name": "apiward scan", "version": "0.1.0"},
        "target": report.target,
        "spec": report.spec_source,
        "started_at": report.started_at,
        "duration_seconds": round(report.duration, 2),
        "requests_sent": report.requests_sent,
        "summary": report.counts(),
        "results": [result_to_dict(result, report.documented_methods) for result in report.results],
    }


def render(report: ScanReport, output_format: str) -> str:
    """Render the report in one of FORMATS (terminal output is plain text here)."""
    import json

    from apiward.scanner.reports import html, junit, sarif, terminal

    if output_format == "json":
        return json.dumps(report_to_dict(report), indent=2)
    if output_format == "sarif":
        return json.dumps(sarif.build(report), indent=2)
    if output_format == "html":
        return html.build(report)
    if output_format == "junit":
        return junit.build(report)
    if output_format == "terminal":
        return terminal.plain(report)
    raise ValueError(f"unknown format {output_format!r}; expected one of: {', '.join(FORMATS)}")
