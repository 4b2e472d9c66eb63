"""Running a scan: load the spec, run each check, collect results.

A check that raises records an ``error`` result; once the request budget is spent, every check
that has not run yet records ``not run``. Neither is ever reported as passed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from apiward.scanner import checks as _checks  # noqa: F401  (registers every check)
from apiward.scanner.catalog import CHECKS
from apiward.scanner.client import ScanClient
from apiward.scanner.context import ScanContext
from apiward.scanner.errors import BudgetExhausted, OriginError, ScanError, TargetError
from apiward.scanner.findings import Result, Status
from apiward.scanner.registry import REGISTRY, Recorder

logger = logging.getLogger("apiward.scanner")

# Login throttling runs last: its burst of failed logins may lock an account that earlier
# checks still need.
ORDER: tuple[str, ...] = (*(name for name in CHECKS if name != "login-no-throttle"), "login-no-throttle")


@dataclass
class ScanReport:
    target: str
    spec_source: str
    results: list[Result] = field(default_factory=list)
    requests_sent: int = 0
    duration: float = 0.0
    started_at: str = ""
    documented_methods: dict[str, list[str]] = field(default_factory=dict)
    """Methods the spec declares per path, for patches that allow only those."""

    def findings(self) -> list[Result]:
        return [result for result in self.results if result.status is Status.FINDING]

    def counts(self) -> dict[str, int]:
        counts = {status.value: 0 for status in Status}
        for result in self.results:
            counts[result.status.value] += 1
        return counts


def select_checks(names: str | None) -> list[str]:
    """Return the checks to run in order, raising ValueError on an unknown name."""
    if not names:
        return list(ORDER)
    requested = [name.strip() for name in names.split(",") if name.strip()]
    unknown = [name for name in requested if name not in CHECKS]
    if unknown:
        raise ValueError(f"unknown check {unknown[0]!r}; known checks: {', '.join(CHECKS)}")
    return [name for name in ORDER if name in requested]


def run_checks(
    ctx: ScanContext, client: ScanClient, names: list[str], progress: Callable[[str], None] | None = None
) -> list[Result]:
    results: list[Result] = []
    budget_spent = False
    for name in names:
        if progress is not None:
            progress(name)
        recorder = Recorder(name)
        if budget_spent:
            recorder.not_run(None, f"request budget of {client.budget} spent before this check")
            results += recorder.results
            continue
        started = time.monotonic()
        try:
            REGISTRY[name](ctx, recorder)
        except BudgetExhausted as error:
            budget_spent = True
            recorder.not_run(None, f"{error}; the check stopped part-way")
        except (OriginError, TargetError) as error:
            recorder.error(None, str(error))
        except ScanError as error:
            recorder.error(None, f"{type(error).__name__}: {error}")
        except Exception as error:
            # A bug in one check must not end the scan: it becomes an error result, never a pass.
            logger.exception("check %s failed", name)
            recorder.error(None, f"internal error in the check: {type(error).__name__}: {error}")
        if not recorder.results:
            recorder.not_run(None, "no operation in the spec fits this check")
        logger.debug("check %s took %.2f s", name, time.monotonic() - started)
        for result in recorder.results:
            if result.status is Status.FINDING:
                ctx.reported.add((name, result.location))
        results += recorder.results
    return results
