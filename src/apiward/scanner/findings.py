"""Results of a scan: one :class:`Result` per check and operation, with evidence.

A result's status is ``finding``, ``passed``, ``error`` or ``not run``; a check that did not run
is never counted as passed.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class Status(enum.StrEnum):
    FINDING = "finding"
    PASSED = "passed"
    ERROR = "error"
    NOT_RUN = "not run"


class Severity(enum.IntEnum):
    INFO = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Severity:
        try:
            return cls[text.upper()]
        except KeyError:
            names = ", ".join(member.label for member in cls)
            raise ValueError(f"invalid severity {text!r}; expected one of: {names}") from None


TARGET = "*"
"""Method and path of a result that concerns the whole target rather than one operation."""


@dataclass(frozen=True)
class ExchangeRecord:
    """One request and its response as shown in evidence, secrets already masked."""

    method: str
    url: str
    request_headers: dict[str, str]
    request_body: str
    status: int | None
    response_headers: dict[str, str]
    response_body: str
    elapsed: float
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "request": {
                "method": self.method,
                "url": self.url,
                "headers": self.request_headers,
                "body": self.request_body,
            },
            "response": {
                "status": self.status,
                "headers": self.response_headers,
                "body": self.response_body,
            },
            "elapsed_seconds": round(self.elapsed, 4),
            "error": self.error,
        }


@dataclass
class Result:
    """The outcome of one check on one operation (or on the whole target)."""

    check: str
    method: str
    path: str
    status: Status
    detail: str = ""
    severity: Severity | None = None
    evidence: list[ExchangeRecord] = field(default_factory=list)

    @property
    def location(self) -> str:
        return f"{self.method} {self.path}"
