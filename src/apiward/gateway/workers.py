"""Run the gateway in one process or as a supervisor with N forked workers.

Every worker opens its own listening sockets with SO_REUSEPORT, so the kernel spreads new
connections over the workers. The supervisor restarts a worker that dies (at most once a
second per worker), passes SIGHUP on to every worker (each reloads the policy itself) and
stops them all on SIGTERM or SIGINT. Each worker also watches the policy file.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from pathlib import Path

import uvloop

from apiward.gateway.runtime import serve

log = logging.getLogger("apiward.gateway.workers")

RESTART_DELAY = 1.0


def run(config: Path, workers: int, *, watch: bool = True) -> int:
    """Serve until stopped; return the process exit status."""
    if workers <= 1:
        return _run_worker(config, reuse_port=False, watch=watch)
    return Supervisor(config, workers, watch=watch).run()


def _run_worker(config: Path, *, reuse_port: bool, watch: bool) -> int:
    try:
        uvloop.run(serve(config, reuse_port=reuse_port, watch=watch))
    except OSError as error:
        log.error("gateway failed to start: %s", error)
        return 1
    return 0


class Supervisor:
    """Fork workers, restart dead ones, forward SIGHUP, stop everything on SIGTERM."""

    def __init__(self, config: Path, count: int, *, watch: bool) -> None:
        self.config = config
        self.watch = watch
        self.count = count
        self.children: dict[int, int] = {}
        self.stopping = False
        self._started: dict[int, float] = {}

    def run(self) -> int:
        signal.signal(signal.SIGHUP, self._forward)
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        for slot in range(self.count):
            self._fork(slot)
        while self.children:
            try:
                pid, status = os.wait()
            except ChildProcessError:
                break
            except InterruptedError:
                continue
            slot = self.children.pop(pid, -1)
            if slot < 0 or self.stopping:
                continue
            log.warning("worker %d (pid %d) exited with status %d; restarting", slot, pid,
                        os.waitstatus_to_exitcode(status))
            delay = RESTART_DELAY - (time.monotonic() - self._started.get(slot, 0.0))
            if delay > 0:
                time.sleep(delay)
            self._fork(slot)
        return 0

    def _fork(self, slot: int) -> None:
        pid = os.fork()
        if pid == 0:
            for number in (signal.SIGHUP, signal.SIGTERM, signal.SIGINT):
                signal.signal(number, signal.SIG_DFL)
            code = _run_worker(self.config, reuse_port=True, watch=self.watch)
            os._exit(code)
        self.children[pid] = slot
        self._started[slot] = time.monotonic()
        log.info("worker %d started (pid %d)", slot, pid)

    def _forward(self, number: int, frame: object) -> None:
        for pid in list(self.children):
            os.kill(pid, signal.SIGHUP)

    def _stop(self, number: int, frame: object) -> None:
        self.stopping = True
        for pid in list(self.children):
            os.kill(pid, signal.SIGTERM)
