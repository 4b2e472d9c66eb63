"""``apiward waf explain``: print how the WAF decides on one request, field by field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import typer

from apiward.gateway.paths import PathError, RouteTable, normalize_path
from apiward.policy.loader import PolicyError, load_policy
from apiward.policy.model import Route
from apiward.policy.stages.waf import WafConfig
from apiward.waf.config import engine_from_config, schema_path
from apiward.waf.corpus import case_request, read_cases
from apiward.waf.decode import decoded_variants
from apiward.waf.engine import Decision, Engine
from apiward.waf.openapi import load_schema
from apiward.waf.request import HttpRequest, RequestParseError, parse_raw_request
from apiward.waf.signatures import SignatureError


def register(app: typer.Typer) -> None:
    """Add this face's sub-commands to the ``apiward`` command."""
    waf_app = typer.Typer(help="Web application firewall tools.", no_args_is_help=True)
    waf_app.command("explain")(explain)
    app.add_typer(waf_app, name="waf")


def explain(
    request_file: Path = typer.Argument(
        ..., help="Raw HTTP request, or a JSON corpus case (.json), or a JSON-lines corpus with --case."
    ),
    policy: Path | None = typer.Option(None, "--policy", help="Policy file whose waf settings apply."),
    route: str | None = typer.Option(
        None, "--route", help="Route whose waf settings apply (default: by path)."
    ),
    case: str | None = typer.Option(None, "--case", help="Id of the case to read from a .jsonl corpus file."),
    paranoia: int | None = typer.Option(
        None, "--paranoia", min=1, max=4, help="Override the paranoia level."
    ),
) -> None:
    """Print the fields, decoding chains, signatures hit and score for one request.

    Exits with 1 when the request would be blocked, 0 when it passes, 2 on bad input.
    """
    try:
        request = _read_request(request_file, case)
        config, route_name = _waf_config(policy, route, request)
        if paranoia is not None:
            config = config.model_copy(update={"paranoia": paranoia})
        document = schema_path(config, policy.parent if policy is not None else None)
        schema = load_schema(document) if document is not None else None
        engine = engine_from_config(config, schema=schema)
    except (OSError, RequestParseError, PolicyError, SignatureError, ValueError) as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None
    decision = engine.inspect(request)
    typer.echo(_report(request, decision, config, route_name))
    raise typer.Exit(1 if decision.blocked else 0)


def _read_request(path: Path, case_id: str | None) -> HttpRequest:
    try:
        return _parse_request_file(path, case_id)
    except OSError as error:
        raise ValueError(f"cannot read {path}: {error.strerror or error}") from None
    except orjson.JSONDecodeError as error:
        raise ValueError(f"{path}: invalid JSON: {error}") from None
    except RequestParseError as error:
        raise ValueError(f"{path}: {error}") from None


def _parse_request_file(path: Path, case_id: str | None) -> HttpRequest:
    if path.suffix == ".jsonl":
        if case_id is None:
            raise ValueError(f"{path} is a corpus file; pass --case ID to pick one case")
        for item in read_cases(path):
            if isinstance(item, dict) and item.get("id") == case_id:
                return case_request(item)
        raise ValueError(f"case {case_id!r} not found in {path}")
    if case_id is not None:
        raise ValueError(f"--case picks a case from a .jsonl corpus file, and {path} is not one")
    data = path.read_bytes()
    if path.suffix == ".json":
        loaded: Any = orjson.loads(data)
        return case_request(loaded)
    return parse_raw_request(data)


def _waf_config(
    policy_path: Path | None, route_name: str | None, request: HttpRequest
) -> tuple[WafConfig, str | None]:
    """Return the waf settings that apply to ``request`` and the name of the route they come from."""
    if policy_path is None:
        return WafConfig(), None
    policy = load_policy(policy_path)
    routes = policy.routes
    if route_name is not None:
        chosen = [item for item in routes if item.name == route_name]
        if not chosen:
            known = ", ".join(item.name for item in routes)
            raise ValueError(f"route {route_name!r} not found in {policy_path}; known: {known}")
        selected = chosen[0]
    else:
        selected = _gateway_route(routes, request, policy_path)
    config = policy.stage_config(selected, "waf")
    if not isinstance(config, WafConfig):
        raise ValueError(
            f"the waf stage is not enabled on route {selected.name!r} of {policy_path}; add 'waf: {{}}' "
            "to that route or to defaults, pick another route with --route, or leave out --policy"
        )
    return config, selected.name


def _gateway_route(routes: list[Route], request: HttpRequest, policy_path: Path) -> Route:
    """Pick the route the gateway would pick: normalised path, case rules, segments and methods."""
    table = RouteTable([(item.match, item.allow_encoded_slashes, item) for item in routes])
    try:
        path, _ = normalize_path(request.path)
        found = table.match(request.method, path)
    except PathError as error:
        raise ValueError(
            f"the gateway rejects the path {request.path[:200]!r} with 400 {error.code} before any stage "
            "runs; pass --route NAME to inspect it with that route's waf settings anyway"
        ) from None
    if found is None:
        raise ValueError(
            f"no route of {policy_path} matches {request.method} {path}, so the gateway responds with 404 "
            "before any stage runs; pass --route NAME to inspect it with that route's waf settings"
        )
    return found[0]


def explain_request(request: HttpRequest, engine: Engine, config: WafConfig) -> str:
    """Inspect ``request`` and return the report that ``waf explain`` prints."""
    return _report(request, engine.inspect(request), config, None)


def _report(request: HttpRequest, decision: Decision, config: WafConfig, route_name: str | None) -> str:
    settings = f"paranoia {config.paranoia}, threshold {config.threshold}, mode {config.mode}"
    lines = [
        f"{request.method} {request.path}{'?' + request.query if request.query else ''}",
        settings if route_name is None else f"route {route_name}: {settings}",
        f"\nfields ({len(decision.locations)}):",
    ]
    typed = set(decision.typed)
    for location, value in zip(decision.locations, decision.values, strict=True):
        if location in typed:
            lines.append(f"  {location} = {_short(value)}  (skipped: valid for its OpenAPI schema type)")
            continue
        lines.append(f"  {location} = {_short(value)}")
        for text, chain in decoded_variants(value)[1:]:
            lines.append(f"    {' > '.join(chain)}: {_short(text)}")
    lines.append(f"\nmatches ({len(decision.matches)}):")
    for match in decision.matches:
        steps = " > ".join(match.chain) if match.chain else "raw value"
        lines.append(
            f"  {match.rule_id} [{match.attack_class}, {match.category}] +{match.score} in {match.location}"
        )
        lines.append(f"    {match.description}")
        lines.append(f"    decoding: {steps}; matched: {_short(match.excerpt)}")
    for anomaly in decision.limit_anomalies:
        lines.append(
            f"  limit {anomaly.code} in {anomaly.location}: {anomaly.message} (policy: {config.on_limit})"
        )
    verdict = "BLOCKED" if decision.blocked else "passed"
    lines.append(f"\nscore {decision.score} / threshold {decision.threshold}: {verdict}")
    return "\n".join(lines)


def _short(text: str, limit: int = 160) -> str:
    shown = repr(text)
    return shown if len(shown) <= limit else shown[: limit - 3] + "..."
