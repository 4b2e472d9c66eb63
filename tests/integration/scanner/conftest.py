"""Fixtures of the scanner integration tests: the lab API served by uvicorn on 127.0.0.1."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from pathlib import Path

import uvicorn

from apiward.lab.app import create_app
from apiward.scanner.engine import ScanReport, select_checks
from apiward.scanner.scan import ScanOptions, run_scan

LAB_AUTH = Path(__file__).parents[3] / "src" / "apiward" / "lab" / "scan-auth.yaml"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def serve_lab(fixed: bool | Collection[str]) -> Iterator[str]:
    """Serve a fresh lab app on a free 127.0.0.1 port and yield its base URL."""
    port = _free_port()
    config = uvicorn.Config(create_app(fixed), host="127.0.0.1", port=port, log_level="critical",
                            lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the lab server did not start within 10 s")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def scan_lab(base_url: str, checks: str | None = None) -> ScanReport:
    """Scan a served lab with its own auth file, loading the spec from the lab."""
    options = ScanOptions(
        spec=f"{base_url}/openapi.json", target=base_url, auth_file=LAB_AUTH,
        checks=tuple(select_checks(checks)), rate=2000, budget=5000, timeout=10,
    )
    return run_scan(options)
