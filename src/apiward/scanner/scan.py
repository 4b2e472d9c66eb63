"""One scan from options to report: the function behind ``apiward scan``."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from apiward.scanner.auth import load_auth_file
from apiward.scanner.client import ScanClient
from apiward.scanner.context import ScanContext
from apiward.scanner.engine import ScanReport, run_checks
from apiward.scanner.errors import OriginError, TargetError, UsageError
from apiward.scanner.har import HarLog
from apiward.scanner.spec import ApiSpec, build_spec, load_file, parse_document


@dataclass(frozen=True)
class ScanOptions:
    spec: str
    target: str
    auth_file: Path | None = None
    checks: tuple[str, ...] = ()
    budget: int = 5000
    rate: float = 50.0
    timeout: float = 10.0
    insecure: bool = False
    allow_destructive: bool = False


def load_spec(source: str, client: ScanClient) -> tuple[ApiSpec, bool]:
    """Load the spec from a file or from a URL on the target; return (spec, loaded from target)."""
    if source.startswith(("http://", "https://")):
        try:
            client.check_origin(source)
        except OriginError:
            raise UsageError(
                f"invalid --spec {source!r}: a spec URL must be on the target's origin"
            ) from None
        response = client.send("GET", source)
        if not response.ok:
            raise TargetError(f"cannot load spec from {source}: status {response.status or response.error}")
        return build_spec(parse_document(response.text, source)), True
    return build_spec(load_file(Path(source))), False


def run_scan(
    options: ScanOptions, har: HarLog | None = None, progress: Callable[[str], None] | None = None
) -> ScanReport:
    """Run every selected check against the target and return the report."""
    auth = load_auth_file(options.auth_file)
    client = ScanClient(
        options.target,
        rate=options.rate,
        budget=options.budget,
        timeout=options.timeout,
        verify=not options.insecure,
        har=har,
    )
    started = time.monotonic()
    report = ScanReport(
        options.target, options.spec, started_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    )
    try:
        spec, from_target = load_spec(options.spec, client)
        probe = client.send("GET", "/")
        if probe.status is None:
            raise TargetError(f"cannot reach target {options.target}: {probe.error}")
        for operation in spec.operations:
            report.documented_methods.setdefault(operation.path, []).append(operation.method)
        ctx = ScanContext(spec, client, auth, allow_destructive=options.allow_destructive)
        if from_target:
            ctx.cache["spec-path-on-target"] = urlsplit(options.spec).path
        for identity in ctx.identities.values():
            identity.auth_headers()
        report.results = run_checks(ctx, client, list(options.checks), progress)
    finally:
        client.close()
        report.requests_sent = client.sent
        report.duration = time.monotonic() - started
    return report
