"""Terminal output: a Rich summary table and the findings, or the same as plain text."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from apiward.scanner.catalog import CHECKS
from apiward.scanner.engine import ScanReport
from apiward.scanner.findings import TARGET, Result, Status

_STYLES = {"critical": "bold red", "high": "red", "medium": "yellow", "low": "cyan", "info": "dim"}


def _where(result: Result) -> str:
    return "target" if result.method == TARGET else result.location


def _sorted_findings(report: ScanReport) -> list[Result]:
    return sorted(report.findings(), key=lambda r: (-(r.severity or 0), r.check, r.location))


def show(report: ScanReport, console: Console) -> None:
    table = Table(title="Findings", show_lines=False)
    for column in ("severity", "check", "operation", "OWASP 2023", "detail"):
        table.add_column(column)
    for result in _sorted_findings(report):
        label = result.severity.label if result.severity is not None else "?"
        table.add_row(
            f"[{_STYLES[label]}]{label}[/]",
            result.check,
            _where(result),
            CHECKS[result.check].category.owasp_2023,
            result.detail,
        )
    console.print(table)
    unfinished = [
        r for r in report.results if r.status in (Status.ERROR, Status.NOT_RUN) and r.method == TARGET
    ]
    for result in unfinished:
        console.print(f"[dim]{result.check}: {result.status.value}: {result.detail}[/]")
    console.print(summary_line(report))


def summary_line(report: ScanReport) -> str:
    """Return the one-line tally: findings, passed, errors, not run, requests and time."""
    counts = report.counts()
    return (
        f"{counts['finding']} findings, {counts['passed']} passed, {counts['error']} errors, "
        f"{counts['not run']} not run; {report.requests_sent} requests in {report.duration:.1f} s"
    )


def plain(report: ScanReport) -> str:
    lines = [f"apiward scan of {report.target}"]
    for result in _sorted_findings(report):
        label = result.severity.label if result.severity is not None else "?"
        lines.append(f"[{label}] {result.check} {_where(result)}: {result.detail}")
    lines.append(summary_line(report))
    return "\n".join(lines) + "\n"
