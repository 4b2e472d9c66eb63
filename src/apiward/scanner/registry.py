"""Check registration and the recorder that collects results while checks run."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from apiward.scanner.catalog import CHECKS
from apiward.scanner.client import Response
from apiward.scanner.context import ScanContext
from apiward.scanner.findings import TARGET, Result, Status
from apiward.scanner.spec import Operation


class Recorder:
    """Collects the results of one check."""

    def __init__(self, check: str) -> None:
        self.check = check
        self.results: list[Result] = []

    def _add(
        self,
        where: Operation | tuple[str, str] | None,
        status: Status,
        detail: str,
        evidence: Sequence[Response] = (),
    ) -> None:
        if where is None:
            method, path = TARGET, TARGET
        elif isinstance(where, Operation):
            method, path = where.method, where.path
        else:
            method, path = where
        severity = CHECKS[self.check].severity if status is Status.FINDING else None
        self.results.append(
            Result(
                self.check,
                method,
                path,
                status,
                detail,
                severity,
                [item.record for item in evidence],
            )
        )

    def finding(
        self, where: Operation | tuple[str, str] | None, detail: str, evidence: Sequence[Response] = ()
    ) -> None:
        self._add(where, Status.FINDING, detail, evidence)

    def passed(
        self, where: Operation | tuple[str, str] | None, detail: str = "", evidence: Sequence[Response] = ()
    ) -> None:
        self._add(where, Status.PASSED, detail, evidence)

    def not_run(self, where: Operation | tuple[str, str] | None, reason: str) -> None:
        self._add(where, Status.NOT_RUN, reason)

    def error(
        self, where: Operation | tuple[str, str] | None, message: str, evidence: Sequence[Response] = ()
    ) -> None:
        self._add(where, Status.ERROR, message, evidence)


CheckFunction = Callable[[ScanContext, Recorder], None]
REGISTRY: dict[str, CheckFunction] = {}


def check(name: str) -> Callable[[CheckFunction], CheckFunction]:
    """Register a function as the implementation of the check ``name`` from the catalog."""
    if name not in CHECKS:
        raise KeyError(f"check {name!r} is not in the catalog")

    def register(function: CheckFunction) -> CheckFunction:
        REGISTRY[name] = function
        return function

    return register
