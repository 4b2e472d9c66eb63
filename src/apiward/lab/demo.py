"""``apiward demo``: the lab API and the gateway in front of it, both on 127.0.0.1.

Both run as child processes in their own sessions, so a Ctrl-C in the terminal reaches only the
demo, which then stops each child by its process id and waits for it.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from types import FrameType

import httpx

from apiward.lab.serve import ServeError, check_port_free

HOST = "127.0.0.1"
START_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 10.0
READY_MARKER = "apiward demo is ready"
"""Printed once both servers respond; tests and scripts wait for this line."""


class DemoError(Exception):
    """The demo could not start; the message names what failed and what to do."""


@dataclass(frozen=True)
class DemoPorts:
    gateway: int
    lab: int
    admin: int

    @classmethod
    def from_base(cls, base: int) -> DemoPorts:
        return cls(gateway=base, lab=base + 1, admin=base + 2)


def render_policy(ports: DemoPorts) -> str:
    """Return the demo policy with the ports filled in."""
    template = resources.files("apiward.lab").joinpath("demo-policy.yaml").read_text(encoding="utf-8")
    return (
        template.replace("{gateway_port}", str(ports.gateway))
        .replace("{lab_port}", str(ports.lab))
        .replace("{admin_port}", str(ports.admin))
    )


@dataclass(frozen=True)
class Child:
    name: str
    process: subprocess.Popen[bytes]


def _start(name: str, arguments: list[str]) -> Child:
    """Start ``apiward ARGUMENTS`` in a session of its own; its output goes to the demo's terminal."""
    command = [sys.executable, "-m", "apiward", *arguments]
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, start_new_session=True)
    return Child(name, process)


def _stop(child: Child) -> None:
    """Stop one child by its pid: SIGTERM, then SIGKILL if it has not exited in time."""
    process = child.process
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(STOP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _exited(children: list[Child]) -> Child | None:
    return next((child for child in children if child.process.poll() is not None), None)


def _wait_ready(url: str, children: list[Child], stop: threading.Event, deadline: float) -> None:
    with httpx.Client(trust_env=False, timeout=2.0) as client:
        while time.monotonic() < deadline and not stop.is_set():
            exited = _exited(children)
            if exited is not None:
                raise DemoError(f"the {exited.name} exited with status {exited.process.returncode}")
            try:
                if client.get(url).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
    if not stop.is_set():
        raise DemoError(
            f"{url} did not respond within {START_TIMEOUT_SECONDS:.0f} s; is another server on that port?"
        )


def _waf_lines(gateway: str, lab: str) -> str:
    injection = '--get --data-urlencode "q=zzz\' OR 1=1 --"'
    return f"""  # denied by the gateway (waf): SQL injection in the product search ...
  curl -i {gateway}/api/v1/products/search {injection}
  # ... which returns every product when sent to the lab directly
  curl -s {lab}/api/v1/products/search {injection}
"""


def _print_guide(ports: DemoPorts, fixed: bool) -> None:
    gateway = f"http://{HOST}:{ports.gateway}"
    lab = f"http://{HOST}:{ports.lab}"
    admin = f"http://{HOST}:{ports.admin}"
    mode = "every hole closed" if fixed else "every hole open"
    print(
        f"""
Gateway:  {gateway}   (in front of the lab API)
Lab API:  {lab}   (direct, {mode}; OpenAPI document at /openapi.json)
Admin:    {admin}   (the gateway's Prometheus metrics at /metrics, health at /healthz)

Try these:
  # passes the gateway: the product list, with the gateway's security headers
  curl -i {gateway}/api/v1/products
  # log in as alice (password alice-pass-1) through the gateway
  curl -s -X POST {gateway}/api/v1/auth/login -H 'Content-Type: application/json' \\
       -d '{{"username": "alice", "password": "alice-pass-1"}}'
  # denied by the gateway (ip_filter): the debug route that leaks the signing key ...
  curl -i {gateway}/api/v1/internal/debug
  # ... which the lab serves when called directly
  curl -s {lab}/api/v1/internal/debug
  # denied by the gateway (methods): TRACE echoes request headers back
  curl -i -X TRACE {gateway}/api/v1/products
{_waf_lines(gateway, lab)}
Lessons: apiward lab holes, then apiward lab lesson <id>.
Press Ctrl-C to stop.
{READY_MARKER}""",
        flush=True,
    )


def run_demo(port_base: int, fixed: bool) -> int:
    """Start lab and gateway, print the guide, and block until SIGINT or SIGTERM; return 0."""
    ports = DemoPorts.from_base(port_base)
    for name, port in (("gateway", ports.gateway), ("lab API", ports.lab), ("gateway admin", ports.admin)):
        try:
            check_port_free(HOST, port)
        except ServeError as error:
            raise DemoError(
                f"port {port} for the {name} is taken ({error}); choose others with --port-base"
            ) from None

    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    children: list[Child] = []
    with tempfile.TemporaryDirectory(prefix="apiward-demo-") as workdir:
        policy = Path(workdir) / "policy.yaml"
        policy.write_text(render_policy(ports), encoding="utf-8")
        try:
            lab_arguments = ["lab", "serve", "--port", str(ports.lab), "--log-level", "warning"]
            children.append(_start("lab API", [*lab_arguments, *(["--fixed"] if fixed else [])]))
            children.append(_start("gateway", ["gateway", "--config", str(policy)]))
            deadline = time.monotonic() + START_TIMEOUT_SECONDS
            _wait_ready(f"http://{HOST}:{ports.lab}/health", children, stop, deadline)
            _wait_ready(f"http://{HOST}:{ports.gateway}/api/v1/products", children, stop, deadline)
            if stop.is_set():
                return 0
            _print_guide(ports, fixed)
            return _supervise(children, stop)
        finally:
            for child in reversed(children):
                _stop(child)
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def _supervise(children: list[Child], stop: threading.Event) -> int:
    """Wait for a stop signal; return 1 if a child exits on its own first."""
    while not stop.wait(0.2):
        exited = _exited(children)
        if exited is not None:
            code = exited.process.returncode
            print(f"demo: the {exited.name} exited with status {code}; stopping", file=sys.stderr)
            return 1
    print("demo: stopping", flush=True)
    return 0
