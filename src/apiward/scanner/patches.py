"""Virtual patches: gateway routes whose stages mitigate the findings of a scan.

The output is a ``routes:`` fragment of a gateway policy. Each route matches one operation that
has findings and switches on the stages that mitigate them. Some mitigations are not route
stages (redaction, limits, removing a route), so those findings are listed as comments.
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

import yaml

from apiward.policy.model import STAGE_NAMES
from apiward.scanner.catalog import CHECKS
from apiward.scanner.engine import ScanReport
from apiward.scanner.findings import TARGET, Result

_UPSTREAM_PLACEHOLDER = "api"


def _route_name(method: str, path: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", f"{method} {path}".lower()).strip("-")
    return f"patch-{slug or 'target'}"


# Starting rates per check; NOTE: estimates for a first patch, to be tuned to real traffic.
_CORS_RESPONSE_HEADERS = ("access-control-allow-origin", "access-control-allow-credentials")
_RATES = {"login-no-throttle": "5/min", "business-flow": "3/hour", "no-rate-limit": "20/s"}


def _stage_config(result: Result, documented: dict[str, list[str]]) -> tuple[str, Any] | None:
    """Return (stage, configuration) that mitigates one finding, or None when no route stage can."""
    stage = CHECKS[result.check].patch
    if stage == "methods":
        allowed = documented.get(result.path) or ["GET"]
        return stage, {"allow": sorted(set(allowed) - {result.method} or {"GET"})}
    if stage == "rate_limit":
        return stage, {"limits": [{"rate": _RATES.get(result.check, "20/s"), "key": ["client", "route"]}]}
    if result.check == "security-headers":
        return stage, {"cache_control": "no-store"}
    if result.check == "cors":
        # Dropping the upstream's reflected CORS headers closes the hole; allowed origins, if
        # any, are then configured under headers.cors.
        return stage, {"remove_headers": ["server", "x-powered-by", *_CORS_RESPONSE_HEADERS]}
    if stage in ("authz", "waf", "headers"):
        return stage, {}
    # authn needs the target's keys, and redaction, schema, limits and route changes are not
    # stages of a route yet, so those findings are listed as comments only.
    return None


def gateway_policy(result: Result, documented: dict[str, list[str]]) -> dict[str, Any] | None:
    """Return the route stage block (``{stage: config}``) that mitigates a finding, or None."""
    config = _stage_config(result, documented)
    if config is None or config[0] not in STAGE_NAMES:
        return None
    return {config[0]: config[1]}


def _stages_for(results: list[Result], documented: dict[str, list[str]]) -> dict[str, Any]:
    stages: dict[str, Any] = {}
    for result in results:
        config = _stage_config(result, documented)
        if config is not None and config[0] in STAGE_NAMES:
            stages.setdefault(config[0], {}).update(config[1])
    return stages


def build_patches(report: ScanReport) -> str:
    """Return the YAML text of the routes that mitigate the report's findings."""
    by_operation: dict[tuple[str, str], list[Result]] = defaultdict(list)
    for result in report.findings():
        by_operation[(result.method, result.path)].append(result)
    routes: list[dict[str, Any]] = []
    notes: list[str] = []
    # Route paths are prefixes and the first matching route wins, so longer paths go first.
    for (method, path), results in sorted(by_operation.items(), key=_specific_first):
        match: dict[str, Any] = {"path": "/" if path == TARGET else re.sub(r"\{[^}]+\}", _param_name, path)}
        if method != TARGET:
            match["methods"] = [method]
        route: dict[str, Any] = {
            "name": _route_name(method, path),
            "match": match,
            "upstream": _UPSTREAM_PLACEHOLDER,
            **_stages_for(results, report.documented_methods),
        }
        for result in results:
            stage = CHECKS[result.check].patch or "none"
            notes.append(f"# {route['name']}: {result.check} -> {stage}")
        routes.append(route)
    header = [
        f"# Virtual patches from apiward scan of {report.target} ({report.started_at}).",
        f"# Merge these routes before the catch-all route of your policy; set 'upstream' (now "
        f"{_UPSTREAM_PLACEHOLDER!r}).",
        "# Findings and the stage that mitigates each:",
        *notes,
    ]
    return "\n".join(header) + "\n" + yaml.safe_dump({"routes": routes}, sort_keys=False)


def _specific_first(item: tuple[tuple[str, str], list[Result]]) -> tuple[int, int, str, str]:
    method, path = item[0]
    return -path.count("/"), -len(path), path, method


def _param_name(match: re.Match[str]) -> str:
    name = re.sub(r"[^A-Za-z0-9_]", "_", match.group(0)[1:-1]) or "param"
    return "{" + (name if not name[0].isdigit() else "p" + name) + "}"
