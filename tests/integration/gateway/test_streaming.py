"""Large bodies stream through a gateway process without being held in memory."""

from __future__ import annotations

import hashlib
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support.client import parse_responses
from tests.support.echo import EchoUpstream
from tests.support.gateway import GatewayProcess, free_port, policy_yaml, write_policy

UPLOAD_BYTES = 200 * 1024 * 1024
BLOCK = bytes(range(256)) * 256


def _memory_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"{field} not found for pid {pid}")


@pytest.fixture
def gateway_process(tmp_path: Path, echo_upstream: EchoUpstream) -> Iterator[GatewayProcess]:
    port = free_port()
    text = policy_yaml(echo_upstream.address, port=port, limits="  max_body_bytes: 1GiB\n")
    with GatewayProcess(write_policy(tmp_path, text), port) as gateway:
        yield gateway


def test_upload_streams_with_bounded_memory(
    gateway_process: GatewayProcess, echo_upstream: EchoUpstream
) -> None:
    pid = gateway_process.process.pid
    with socket.create_connection(("127.0.0.1", gateway_process.port), timeout=30) as sock:
        sock.sendall(b"GET /warm-up HTTP/1.1\r\nHost: x\r\n\r\n")
        assert sock.recv(65536).startswith(b"HTTP/1.1 200")
        baseline = _memory_kib(pid, "VmRSS")
        digest = hashlib.sha256()
        sock.sendall(b"PUT /upload HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                     b"Content-Length: %d\r\n\r\n" % UPLOAD_BYTES)
        for _ in range(UPLOAD_BYTES // len(BLOCK)):
            sock.sendall(BLOCK)
            digest.update(BLOCK)
        raw = b""
        while chunk := sock.recv(65536):
            raw += chunk
    peak = _memory_kib(pid, "VmHWM")
    response = parse_responses(raw)[0]
    assert response.status == 200
    assert response.json()["body_len"] == UPLOAD_BYTES
    assert response.json()["body_sha256"] == digest.hexdigest()
    assert peak - baseline < 40 * 1024, f"RSS grew by {(peak - baseline) // 1024} MiB"


def test_download_streams_with_bounded_memory(gateway_process: GatewayProcess) -> None:
    pid = gateway_process.process.pid
    size = 100 * 1024 * 1024
    with socket.create_connection(("127.0.0.1", gateway_process.port), timeout=30) as sock:
        sock.sendall(b"GET /warm-up HTTP/1.1\r\nHost: x\r\n\r\n")
        assert sock.recv(65536).startswith(b"HTTP/1.1 200")
        baseline = _memory_kib(pid, "VmRSS")
        sock.sendall(b"GET /big HTTP/1.1\r\nHost: x\r\nConnection: close\r\nx-echo-size: %d\r\n\r\n" % size)
        received = 0
        head = b""
        while b"\r\n\r\n" not in head:
            head += sock.recv(65536)
        received = len(head) - head.find(b"\r\n\r\n") - 4
        while chunk := sock.recv(1 << 20):
            received += len(chunk)
    peak = _memory_kib(pid, "VmHWM")
    assert head.startswith(b"HTTP/1.1 200")
    assert received == size
    assert peak - baseline < 40 * 1024, f"RSS grew by {(peak - baseline) // 1024} MiB"
