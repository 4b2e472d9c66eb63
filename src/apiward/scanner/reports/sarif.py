"""SARIF 2.1.0 output: one rule per check, one result per finding.

A scan has no source files, so each result's location is the operation as a logical location
(``GET /users/{id}``) plus the target URL as the artifact.
"""

from __future__ import annotations

from typing import Any

from apiward.scanner.catalog import CHECKS
from apiward.scanner.engine import ScanReport
from apiward.scanner.findings import TARGET, Result, Severity, Status

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
_LEVELS = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "note",
    Severity.INFO: "note",
}
_SCORES = {
    Severity.CRITICAL: "9.5",
    Severity.HIGH: "8.0",
    Severity.MEDIUM: "5.5",
    Severity.LOW: "3.0",
    Severity.INFO: "0.0",
}


def _rule(name: str) -> dict[str, Any]:
    info = CHECKS[name]
    return {
        "id": name,
        "name": "".join(part.capitalize() for part in name.split("-")),
        "shortDescription": {"text": info.title},
        "fullDescription": {
            "text": f"{info.category.owasp_2023} {info.category.name_2023} "
            f"({info.category.name_2019}); CWE-{info.cwe}."
        },
        "help": {"text": info.remediation},
        "defaultConfiguration": {"level": _LEVELS[info.severity]},
        "properties": {
            "tags": ["security", info.category.owasp_2023, f"CWE-{info.cwe}"],
            "security-severity": _SCORES[info.severity],
        },
    }


def _result(result: Result, target: str, rule_index: int) -> dict[str, Any]:
    where = "target" if result.method == TARGET else result.location
    severity = result.severity or CHECKS[result.check].severity
    return {
        "ruleId": result.check,
        "ruleIndex": rule_index,
        "level": _LEVELS[severity],
        "message": {"text": f"{where}: {result.detail}"},
        "locations": [
            {
                "physicalLocation": {"artifactLocation": {"uri": target}},
                "logicalLocations": [{"name": where, "kind": "function"}],
            }
        ],
        "partialFingerprints": {"operation/v1": f"{result.check}|{where}"},
        "properties": {
            "severity": severity.label,
            "evidence": [record.to_dict() for record in result.evidence],
        },
    }


def build(report: ScanReport) -> dict[str, Any]:
    names = list(CHECKS)
    results = [
        _result(result, report.target, names.index(result.check))
        for result in report.results
        if result.status is Status.FINDING
    ]
    notifications = [
        {
            "level": "warning" if result.status is Status.ERROR else "note",
            "message": {"text": f"{result.check} {result.location}: {result.status.value}: {result.detail}"},
        }
        for result in report.results
        if result.status in (Status.ERROR, Status.NOT_RUN)
    ]
    return {
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "apiward scan",
                        "version": "0.1.0",
                        "rules": [_rule(name) for name in names],
                    }
                },
                "invocations": [
                    {
                        "executionSuccessful": not any(
                            result.status is Status.ERROR for result in report.results
                        ),
                        "toolExecutionNotifications": notifications,
                    }
                ],
                "results": results,
            }
        ],
    }
