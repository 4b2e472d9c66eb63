"""The HTML scan report opens in Chromium, works offline and loads nothing from anywhere."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from apiward.scanner.engine import ScanReport
from apiward.scanner.findings import ExchangeRecord, Result, Severity, Status
from apiward.scanner.reports import render

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync",
]

pytestmark = pytest.mark.browser


def _report() -> ScanReport:
    # Evidence with links and markup: the page must neither load nor run them.
    body = '<img src="https://example.test/pixel.png"><script>window.hacked = 1</script>'
    record = ExchangeRecord("GET", "http://127.0.0.1:9/x", {}, "", 500, {}, body, 0.01)
    results = [
        Result("stack-trace", "GET", "/x", Status.FINDING, "trace <b>shown</b>", Severity.MEDIUM, [record]),
        Result("cors", "GET", "/me", Status.PASSED, "not reflected"),
        Result("ssrf", "*", "*", Status.NOT_RUN, "no parameter takes a URL"),
    ]
    return ScanReport("http://127.0.0.1:9", "spec.yaml", results, requests_sent=3, duration=0.5)


def test_html_report_offline_in_chromium(tmp_path: Path) -> None:
    # make test installs Debian's chromium (scripts/ensure-system.sh), so a missing browser fails.
    assert shutil.which("chromium") is not None, "chromium is missing: run make system"
    from playwright.sync_api import Route, sync_playwright

    page_file = tmp_path / "report.html"
    page_file.write_text(render(_report(), "html"), encoding="utf-8")
    outside: list[str] = []

    def guard(route: Route) -> None:
        if route.request.url.startswith("file://"):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.route("**/*", guard)
        page.goto(page_file.as_uri())
        page.wait_for_load_state("load")
        rows = page.locator("tr.row")
        assert rows.count() == 3
        assert page.locator("#summary").inner_text() == "1 finding, 1 passed, 0 error, 1 not run"
        assert page.evaluate("window.hacked") is None
        page.fill("#filter", "cors")
        assert page.locator("tr.row:visible").count() == 1
        browser.close()
    assert outside == []
