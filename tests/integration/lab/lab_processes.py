"""Helpers of the lab integration tests: free loopback ports and `apiward` child processes."""

from __future__ import annotations

import os
import queue
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path


def ports_free(first: int, count: int) -> bool:
    for port in range(first, first + count):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                return False
    return True


def free_port_base(count: int) -> int:
    """Return the first of ``count`` consecutive free ports on 127.0.0.1 (tries 50 random bases)."""
    for _ in range(50):
        base = random.randrange(20000, 60000)
        if ports_free(base, count):
            return base
    raise RuntimeError(f"found no {count} consecutive free ports on 127.0.0.1")


def start_apiward(*arguments: str, read_output: bool = True) -> subprocess.Popen[str]:
    """Start ``apiward ARGUMENTS``; without ``read_output`` its output is discarded.

    Discard the output of a server that nobody reads, because a full pipe blocks its writes.
    """
    output = subprocess.PIPE if read_output else subprocess.DEVNULL
    return subprocess.Popen(
        [sys.executable, "-m", "apiward", *arguments],
        stdout=output,
        stderr=output,
        stdin=subprocess.DEVNULL,
        text=True,
    )


def read_until(process: subprocess.Popen[str], marker: str, timeout: float = 30.0) -> str:
    """Return the stdout of ``process`` up to and including the line containing ``marker``.

    A thread reads the pipe, because select() on a buffered text stream misses lines that the
    buffer already holds.
    """
    assert process.stdout is not None
    lines: queue.Queue[str] = queue.Queue()
    stdout = process.stdout

    def pump() -> None:
        for line in stdout:
            lines.put(line)
            if marker in line:
                return

    threading.Thread(target=pump, daemon=True).start()
    output: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.2)
        except queue.Empty:
            if process.poll() is not None and lines.empty():
                break
            continue
        output.append(line)
        if marker in line:
            return "".join(output)
    raise AssertionError(f"{marker!r} not seen in {timeout} s; stdout so far: {''.join(output)!r}")


def child_pids(parent: int) -> list[int]:
    """Return the pids of the direct children of ``parent``, read from /proc."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        if int(fields[1]) == parent:
            children.append(int(stat.parent.name))
    return children


def is_running(pid: int) -> bool:
    """Return True while ``pid`` exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def stop(process: subprocess.Popen[str], sig: int = signal.SIGTERM, timeout: float = 15.0) -> int:
    """Send ``sig`` to the process by pid and return its exit status; kill it if it hangs."""
    if process.poll() is None:
        os.kill(process.pid, sig)
    try:
        return process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise
    finally:
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()
