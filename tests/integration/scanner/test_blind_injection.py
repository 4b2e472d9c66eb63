"""Blind SQL injection: boolean and time-based detection on a small API that hides SQL errors.

The API keeps its rows in SQLite and registers a ``SLEEP`` function, so a MySQL-style time
payload delays it. The safe variant binds the parameter, and the scan must pass there.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from fastapi import FastAPI, HTTPException

from apiward.scanner.engine import select_checks
from apiward.scanner.findings import Status
from apiward.scanner.scan import ScanOptions, run_scan

from .conftest import _free_port


def _database() -> sqlite3.Connection:
    connection = sqlite3.connect(":memory:", check_same_thread=False)
    connection.create_function("SLEEP", 1, lambda seconds: time.sleep(min(float(seconds), 5)) or 0)
    connection.execute("CREATE TABLE notes (title TEXT, body TEXT)")
    connection.executemany("INSERT INTO notes VALUES (?, ?)", [("alpha", "first"), ("beta", "second")])
    return connection


def build_app(mode: str) -> FastAPI:
    """``mode``: "boolean" (rows leak, errors hidden), "time" (only timing leaks) or "safe"."""
    app = FastAPI()
    database = _database()
    lock = threading.Lock()

    @app.get("/notes/search")
    def search(title: str) -> list[dict[str, str]]:
        with lock:
            try:
                if mode == "safe":
                    rows = database.execute("SELECT title, body FROM notes WHERE title = ?", (title,))
                else:
                    # The hole under test: the title is pasted into the SQL text.
                    rows = database.execute(f"SELECT title, body FROM notes WHERE title = '{title}'")
                found = [{"title": row[0], "body": row[1]} for row in rows.fetchall()]
            except sqlite3.Error:
                raise HTTPException(404, "not found") from None
        if mode == "time":
            return []
        if not found:
            raise HTTPException(404, "not found")
        return found

    return app


@contextmanager
def serve(mode: str) -> Iterator[str]:
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(build_app(mode), host="127.0.0.1", port=port, log_level="critical",
                                           lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def _scan(base_url: str) -> list[tuple[str, str]]:
    options = ScanOptions(spec=f"{base_url}/openapi.json", target=base_url,
                          checks=tuple(select_checks("sqli")), rate=1000, timeout=15)
    report = run_scan(options)
    assert not [result for result in report.results if result.status is Status.ERROR]
    return [(result.path, result.detail) for result in report.findings()]


def test_boolean_blind_found() -> None:
    with serve("boolean") as base_url:
        findings = _scan(base_url)
    assert len(findings) == 1
    assert findings[0][0] == "/notes/search"
    assert "true condition and a false one" in findings[0][1]


def test_time_based_found() -> None:
    with serve("time") as base_url:
        findings = _scan(base_url)
    assert len(findings) == 1
    assert "SQL sleep delays the response" in findings[0][1]


def test_parameterised_query_passes() -> None:
    with serve("safe") as base_url:
        findings = _scan(base_url)
    assert findings == []
