"""Fixtures of the scanner unit tests: a small HTTP server on 127.0.0.1 and a canned report."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from apiward.scanner.engine import ScanReport
from apiward.scanner.findings import ExchangeRecord, Result, Severity, Status


class _EchoHandler(BaseHTTPRequestHandler):
    """Return a JSON echo of the path and the Authorization header for every GET."""

    def do_GET(self) -> None:
        body = json.dumps({"path": self.path, "authorization": self.headers.get("Authorization")}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def echo_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _EchoHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _record(body: str = '{"password": "hunter22"}') -> ExchangeRecord:
    return ExchangeRecord(
        method="GET",
        url="http://127.0.0.1:9/users/1",
        request_headers={"authorization": "Bear…"},
        request_body="",
        status=200,
        response_headers={"content-type": "application/json"},
        response_body=body,
        elapsed=0.01,
    )


@pytest.fixture
def sample_report() -> ScanReport:
    """A report with one result of every status, evidence included."""
    results = [
        Result("bola-read", "GET", "/orders/{id}", Status.FINDING, "bob read alice's order",
               Severity.HIGH, [_record()]),
        Result("sqli", "GET", "/search", Status.FINDING, "query field 'q': <script>alert(1)</script>",
               Severity.CRITICAL, [_record("<a href='https://example.test/x'>x</a>")]),
        Result("cors", "GET", "/me", Status.PASSED, "not reflected"),
        Result("ssrf", "*", "*", Status.NOT_RUN, "no parameter takes a URL"),
        Result("redos", "POST", "/mail", Status.ERROR, "timed out"),
    ]
    return ScanReport("http://127.0.0.1:9", "spec.yaml", results, requests_sent=12, duration=1.5,
                      started_at="2026-01-01T00:00:00+00:00")
