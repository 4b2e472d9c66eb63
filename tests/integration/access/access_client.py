"""Raw HTTP/1.1 requests over asyncio streams, many at once, to a gateway on 127.0.0.1."""

from __future__ import annotations

import asyncio
import uuid

TIMEOUT = 20.0
"""Seconds a request may take before the test fails instead of hanging."""


async def fetch(
    port: int, path: str = "/", headers: list[tuple[str, str]] | None = None,
) -> tuple[int, dict[str, str]]:
    """Send one GET on a new connection; return the status and the response headers."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), TIMEOUT)
    lines = [f"GET {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in headers or []]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
    await writer.drain()
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT)
    finally:
        writer.close()
    status_line, *fields = head.decode("latin-1").split("\r\n")
    parsed = {}
    for field in fields:
        name, _, value = field.partition(":")
        if name:
            parsed[name.strip().lower()] = value.strip()
    return int(status_line.split(" ")[1]), parsed


async def burst(port: int, count: int, path: str = "/") -> list[int]:
    """Fire ``count`` requests at once, each on its own connection; return their statuses."""
    results = await asyncio.gather(
        *(fetch(port, f"{path}?n={uuid.uuid4().hex[:8]}") for _ in range(count)),
    )
    return [status for status, _ in results]
