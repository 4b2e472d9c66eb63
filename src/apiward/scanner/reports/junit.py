"""JUnit XML output: one test suite per check, one test case per operation.

A finding is a failure, an error an error, and ``not run`` a skipped test, so CI systems show
untested operations instead of counting them as passed.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import defaultdict

from apiward.scanner.catalog import CHECKS
from apiward.scanner.engine import ScanReport
from apiward.scanner.findings import Result, Status


def _case(suite: ET.Element, result: Result) -> None:
    case = ET.SubElement(
        suite, "testcase", name=result.location, classname=f"apiward.scan.{result.check}", time="0"
    )
    if result.status is Status.FINDING:
        failure = ET.SubElement(
            case, "failure", type=result.check, message=f"{CHECKS[result.check].title}: {result.detail}"
        )
        failure.text = "\n".join(
            f"{record.method} {record.url} -> {record.status}" for record in result.evidence
        )
    elif result.status is Status.ERROR:
        ET.SubElement(case, "error", type="error", message=result.detail)
    elif result.status is Status.NOT_RUN:
        ET.SubElement(case, "skipped", message=result.detail)


def build(report: ScanReport) -> str:
    by_check: dict[str, list[Result]] = defaultdict(list)
    for result in report.results:
        by_check[result.check].append(result)
    root = ET.Element(
        "testsuites",
        name="apiward scan",
        tests=str(len(report.results)),
        failures=str(len(report.findings())),
        time=f"{report.duration:.2f}",
    )
    for check, results in by_check.items():
        suite = ET.SubElement(
            root,
            "testsuite",
            name=check,
            tests=str(len(results)),
            failures=str(sum(r.status is Status.FINDING for r in results)),
            errors=str(sum(r.status is Status.ERROR for r in results)),
            skipped=str(sum(r.status is Status.NOT_RUN for r in results)),
        )
        for result in results:
            _case(suite, result)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
