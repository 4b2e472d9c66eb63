"""`apiward lab serve` over real sockets: holes open and closed per --fix, clean SIGTERM."""

from __future__ import annotations

import signal
import time

import httpx
import pytest
from lab_processes import free_port_base, start_apiward, stop


def wait_healthy(url: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    with httpx.Client(trust_env=False, timeout=2.0) as client:
        while time.monotonic() < deadline:
            try:
                if client.get(url).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.1)
    pytest.fail(f"{url} did not respond within {timeout} s")


def test_serve_fix_closes_only_that_hole() -> None:
    port = free_port_base(1)
    lab = start_apiward("lab", "serve", "--port", str(port), "--fix", "sqli", read_output=False)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(f"{base}/health")
        with httpx.Client(base_url=base, trust_env=False, timeout=5.0) as client:
            injected = client.get("/api/v1/products/search", params={"q": "zzz' OR 1=1 --"})
            template = client.get("/api/v1/greetings", params={"name": "{{7*191}}"})
            trace = client.request("TRACE", "/api/v1/products", headers={"Cookie": "session=s3cr3t"})
    finally:
        status = stop(lab)

    assert injected.status_code == 200
    assert injected.json() == []
    assert template.text == "Hello 1337!"
    assert trace.status_code == 200
    assert "session=s3cr3t" in trace.text
    # uvicorn shuts down cleanly, then re-raises SIGTERM so the exit status names the signal.
    assert status in (0, -signal.SIGTERM)
