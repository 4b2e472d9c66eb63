"""Self-contained HTML report: inline CSS and script, no external requests.

A Content-Security-Policy meta tag forbids every external load, so even a link that slipped
into evidence cannot make the page fetch anything. All report text is HTML-escaped.
"""

from __future__ import annotations

import json
from html import escape

import yaml

from apiward.scanner.catalog import CHECKS
from apiward.scanner.engine import ScanReport
from apiward.scanner.findings import TARGET, ExchangeRecord, Result, Status
from apiward.scanner.patches import gateway_policy

_STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:2rem;color:#1d2330;background:#fafbfc}
h1{font-size:1.5rem}table{border-collapse:collapse;width:100%;margin:1rem 0}
th,td{border-bottom:1px solid #dde1e7;padding:.35rem .5rem;text-align:left;vertical-align:top}
.sev{font-weight:600;text-transform:uppercase;font-size:.8rem}
.critical{color:#a00}.high{color:#d33}.medium{color:#b70}.low{color:#27a}
.finding{background:#fff4f4}.error{background:#fff8e6}.notrun{color:#777}
details pre{white-space:pre-wrap;background:#f0f2f5;padding:.5rem;max-height:24rem;overflow:auto}
#filter{margin:.5rem 0;padding:.3rem;width:20rem}
"""
_SCRIPT = """
document.getElementById('filter').addEventListener('input', function (event) {
  var needle = event.target.value.toLowerCase();
  document.querySelectorAll('tr.row').forEach(function (row) {
    row.style.display = row.textContent.toLowerCase().indexOf(needle) >= 0 ? '' : 'none';
  });
});
"""
_CSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:"


def _exchange(record: ExchangeRecord) -> str:
    request = f"{record.method} {record.url}\n" + "\n".join(
        f"{name}: {value}" for name, value in record.request_headers.items()
    )
    if record.request_body:
        request += "\n\n" + record.request_body
    response = f"status {record.status} in {record.elapsed:.3f} s\n" + "\n".join(
        f"{name}: {value}" for name, value in record.response_headers.items()
    )
    if record.response_body:
        response += "\n\n" + record.response_body
    return f"<pre>{escape(request)}</pre><pre>{escape(response)}</pre>"


def _row(result: Result, documented: dict[str, list[str]]) -> str:
    info = CHECKS[result.check]
    policy = gateway_policy(result, documented) if result.status is Status.FINDING else None
    where = "target" if result.method == TARGET else result.location
    severity = result.severity.label if result.severity is not None else ""
    css = {Status.FINDING: "finding", Status.ERROR: "error", Status.NOT_RUN: "notrun"}.get(result.status, "")
    evidence = "".join(_exchange(record) for record in result.evidence)
    details = (
        f"<details><summary>{escape(result.detail) or 'details'}</summary>"
        f"<p>{escape(info.category.owasp_2023)} {escape(info.category.name_2023)} "
        f"({escape(info.category.name_2019)}), CWE-{info.cwe}</p>"
        f"<p>Remediation: {escape(info.remediation)}</p>"
        + (f"<p>Gateway stage: {escape(info.patch)}</p>" if info.patch else "")
        + (f"<pre>{escape(yaml.safe_dump(policy, sort_keys=False))}</pre>" if policy else "")
        + f"{evidence}</details>"
    )
    return (
        f'<tr class="row {css}"><td class="sev {severity}">{severity}</td>'
        f"<td>{escape(result.status.value)}</td>"
        f"<td>{escape(result.check)}</td><td>{escape(where)}</td><td>{details}</td></tr>"
    )


def build(report: ScanReport) -> str:
    counts = report.counts()
    order = {Status.FINDING: 0, Status.ERROR: 1, Status.NOT_RUN: 2, Status.PASSED: 3}
    rows = sorted(report.results, key=lambda r: (order[r.status], -(r.severity or 0), r.check, r.location))
    summary = ", ".join(f"{count} {name}" for name, count in counts.items())
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{_CSP}">
<title>apiward scan: {escape(report.target)}</title><style>{_STYLE}</style></head>
<body><h1>apiward scan of {escape(report.target)}</h1>
<p>Spec {escape(report.spec_source)}; started {escape(report.started_at)};
{report.requests_sent} requests in {report.duration:.1f} s.</p>
<p id="summary">{escape(summary)}</p>
<input id="filter" type="search" placeholder="Filter by check, operation or status">
<table><thead><tr><th>severity</th><th>status</th><th>check</th><th>operation</th><th>detail</th></tr></thead>
<tbody>{"".join(_row(result, report.documented_methods) for result in rows)}</tbody></table>
<script type="application/json" id="data">{escape(json.dumps(counts))}</script>
<script>{_SCRIPT}</script>
</body></html>
"""
