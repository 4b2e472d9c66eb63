"""`apiward demo` as a user runs it: start, follow the printed requests, Ctrl-C."""

from __future__ import annotations

import signal
import socket
import time

import httpx
import pytest
from lab_processes import child_pids, free_port_base, is_running, read_until, start_apiward, stop

from apiward.lab.demo import READY_MARKER


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=["sigint", "sigterm"])
def test_demo_serves_and_stops(stop_signal: signal.Signals) -> None:
    base = free_port_base(3)
    demo = start_apiward("demo", "--port-base", str(base))
    try:
        guide = read_until(demo, READY_MARKER)
        children = child_pids(demo.pid)
        gateway, lab = f"http://127.0.0.1:{base}", f"http://127.0.0.1:{base + 1}"
        assert f"curl -i {gateway}/api/v1/internal/debug" in guide
        assert len(children) == 2

        with httpx.Client(trust_env=False, timeout=5.0) as client:
            passed = client.get(f"{gateway}/api/v1/products")
            denied = client.get(f"{gateway}/api/v1/internal/debug")
            direct = client.get(f"{lab}/api/v1/internal/debug")
            trace = client.request("TRACE", f"{gateway}/api/v1/products")
            login = client.post(
                f"{gateway}/api/v1/auth/login", json={"username": "alice", "password": "alice-pass-1"}
            )
            injection = {"q": "zzz' OR 1=1 --"}
            blocked = client.get(f"{gateway}/api/v1/products/search", params=injection)
            injected = client.get(f"{lab}/api/v1/products/search", params=injection)

        assert passed.status_code == 200
        assert passed.headers["x-content-type-options"] == "nosniff"
        assert denied.status_code == 403
        assert direct.status_code == 200
        assert "jwt_secret" in direct.json()
        assert trace.status_code == 405
        assert login.status_code == 200
        assert blocked.status_code == 403
        assert blocked.json()["error"] == "waf_blocked"
        assert len(injected.json()) == 3
    finally:
        status = stop(demo, stop_signal)

    assert status == 0
    deadline = time.monotonic() + 5
    while any(is_running(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [pid for pid in children if is_running(pid)] == []


def test_demo_port_taken_fails_clearly() -> None:
    base = free_port_base(3)
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", base + 1))
        squatter.listen()
        demo = start_apiward("demo", "--port-base", str(base))
        assert demo.wait(30) == 2
        assert demo.stderr is not None
        message = demo.stderr.read()
        stop(demo)

    assert f"port {base + 1} for the lab API is taken" in message
    assert "--port-base" in message
