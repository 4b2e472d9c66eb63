"""HAR 1.2 log of every request the scanner sent, written beside the report."""

from __future__ import annotations

import datetime as dt
import json
import threading
from pathlib import Path
from typing import Any

import httpx

from apiward.scanner.masking import mask_body, mask_headers

_MAX_BODY_CHARS = 64 * 1024


def _pairs(headers: dict[str, str]) -> list[dict[str, str]]:
    return [{"name": name, "value": value} for name, value in mask_headers(headers).items()]


class HarLog:
    """Collects exchanges in memory and writes them as one HAR document."""

    def __init__(self) -> None:
        self._entries: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def add(
        self, request: httpx.Request, response: httpx.Response | None, body: bytes, elapsed: float
    ) -> None:
        request_text = request.content.decode("utf-8", "replace") if request.content else ""
        entry: dict[str, Any] = {
            "startedDateTime": dt.datetime.now(dt.UTC).isoformat(),
            "time": round(elapsed * 1000, 3),
            "request": {
                "method": request.method,
                "url": str(request.url),
                "httpVersion": "HTTP/1.1",
                "headers": _pairs(dict(request.headers)),
                "queryString": [],
                "cookies": [],
                "headersSize": -1,
                "bodySize": len(request.content or b""),
                "postData": {
                    "mimeType": request.headers.get("content-type", ""),
                    "text": mask_body(request_text[:_MAX_BODY_CHARS]),
                },
            },
            "response": {
                "status": response.status_code if response is not None else 0,
                "statusText": response.reason_phrase if response is not None else "request failed",
                "httpVersion": "HTTP/1.1",
                "headers": _pairs(dict(response.headers)) if response is not None else [],
                "cookies": [],
                "redirectURL": "",
                "headersSize": -1,
                "bodySize": len(body),
                "content": {
                    "size": len(body),
                    "mimeType": response.headers.get("content-type", "") if response is not None else "",
                    "text": mask_body(body[:_MAX_BODY_CHARS].decode("utf-8", "replace")),
                },
            },
            "cache": {},
            "timings": {"send": 0, "wait": round(elapsed * 1000, 3), "receive": 0},
        }
        with self._lock:
            self._entries.append(entry)

    def write(self, path: Path) -> None:
        document = {
            "log": {
                "version": "1.2",
                "creator": {"name": "apiward scan", "version": "0.1.0"},
                "entries": self._entries,
            }
        }
        path.write_text(json.dumps(document, indent=1), encoding="utf-8")
