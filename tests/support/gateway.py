"""Start a real gateway for a test: in-process on its own event-loop thread, or as a subprocess."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import uvloop

from apiward.gateway.runtime import Gateway


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def policy_yaml(
    upstream: str | list[str], *, port: int | None = None, route: str = "", extra: str = "",
    limits: str = "", upstream_extra: str = "",
) -> str:
    """Build a policy with one route ``all`` on ``/`` to upstream ``app``.

    ``route`` adds indented keys to the route (e.g. ``"    methods: {allow: [GET]}\\n"``),
    ``upstream_extra`` to the upstream, ``limits`` to ``limits:``, ``extra`` top-level blocks.
    Access and security logs are off unless ``extra`` sets ``logging:``.
    """
    targets = [upstream] if isinstance(upstream, str) else upstream
    text = (
        f"listen:\n  - address: 127.0.0.1:{port or free_port()}\n"
        f"upstreams:\n  app:\n    targets: [{', '.join(targets)}]\n{upstream_extra}"
        f"routes:\n  - name: all\n    match: {{path: /}}\n    upstream: app\n{route}"
    )
    if limits:
        text += f"limits:\n{limits}"
    if "logging:" not in extra:
        text += "logging:\n  access_log: 'off'\n  security_log: 'off'\n"
    return text + extra


def write_policy(directory: Path, text: str, name: str = "gateway.yaml") -> Path:
    path = directory / name
    path.write_text(text)
    return path


class GatewayThread:
    """A gateway serving ``policy_path`` on a uvloop event loop in a background thread."""

    def __init__(self, policy_path: Path) -> None:
        self.policy_path = policy_path
        self.loop = uvloop.new_event_loop()
        self.gateway = Gateway(policy_path)
        self._thread = threading.Thread(target=self.loop.run_forever, name="gateway", daemon=True)

    def start(self) -> GatewayThread:
        self._thread.start()
        # A cold cache means compiling the WAF's hyperscan database first, which took over 30 s
        # on a loaded 2-core machine.
        self.call(self.gateway.start(), timeout=120)
        return self

    def call(self, coroutine: Any, timeout: float = 30) -> Any:
        """Run a coroutine on the gateway's loop and return its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=timeout)

    @property
    def port(self) -> int:
        return self.gateway.ports[0]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def reload(self) -> bool:
        result: bool = self.call(self.gateway.reload())
        return result

    def stop(self) -> None:
        self.call(self.gateway.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self.loop.close()

    def __enter__(self) -> GatewayThread:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class GatewayProcess:
    """``python -m apiward gateway --config FILE`` as a child process of the test."""

    def __init__(
        self, policy_path: Path, port: int, *, workers: int = 1, extra_args: tuple[str, ...] = (),
        ready_timeout: float = 60,
    ) -> None:
        self.policy_path = policy_path
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        command = [sys.executable, "-m", "apiward", "gateway", "--config", str(policy_path)]
        if workers > 1:
            command += ["--workers", str(workers)]
        command += extra_args
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self._wait_ready(ready_timeout)

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                _, stderr = self.process.communicate()
                raise RuntimeError(f"gateway exited with {self.process.returncode}: {stderr.decode()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise TimeoutError(f"gateway did not listen on port {self.port} within {timeout} s")

    def signal(self, number: signal.Signals) -> None:
        os.kill(self.process.pid, number)

    def stop(self) -> tuple[bytes, bytes]:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.communicate()

    def __enter__(self) -> GatewayProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
