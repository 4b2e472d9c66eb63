"""The SSRF canary: an HTTP listener on 127.0.0.1 that records which tokens were fetched."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Handler(BaseHTTPRequestHandler):
    server: CanaryServer

    def do_GET(self) -> None:
        self.server.record(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    do_POST = do_GET
    do_HEAD = do_GET

    def log_message(self, format: str, *args: object) -> None:
        """Keep the canary quiet; hits are recorded, not logged."""


class CanaryServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.hits: list[str] = []
        self._condition = threading.Condition()

    def record(self, path: str) -> None:
        with self._condition:
            self.hits.append(path)
            self._condition.notify_all()


class Canary:
    """Context manager running the canary in a background thread."""

    def __init__(self) -> None:
        self.server = CanaryServer()
        self._thread = threading.Thread(target=self.server.serve_forever, name="ssrf-canary", daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> Canary:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def was_hit(self, token: str, wait: float = 1.5) -> bool:
        """Return True when a request for ``token`` arrived, waiting at most ``wait`` seconds."""
        deadline = time.monotonic() + wait
        with self.server._condition:
            while not any(token in hit for hit in self.server.hits):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self.server._condition.wait(remaining)
        return True
