"""Helpers of the lab tests: in-process clients of the lab app and a loopback canary server."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

from apiward.lab.app import create_app

LabClientFactory = Callable[..., Any]


@asynccontextmanager
async def lab_client(fixed: Any = False) -> AsyncIterator[httpx.AsyncClient]:
    """Yield a client wired to a fresh lab app in this process; nothing goes over the network."""
    app = create_app(fixed)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        client.app = app  # type: ignore[attr-defined]
        yield client


async def bearer(client: httpx.AsyncClient, username: str) -> dict[str, str]:
    """Log in as a seeded user and return the Authorization header."""
    from apiward.lab.store import SEED_USERS

    password = next(user.password for user in SEED_USERS if user.username == username)
    response = await client.post("/api/v1/auth/login", json={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


class Canary:
    """An HTTP server on 127.0.0.1 that records the paths it was asked for."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        canary = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                canary.paths.append(self.path)
                body = b"canary-body"
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"
