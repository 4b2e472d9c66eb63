"""The ``waf`` stage: runs the WAF engine on the request head, then on the buffered body.

The head is inspected as soon as it arrives, so an attack in the path, query or headers is
denied before the body is read. The body's matches are scored together with the head's.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from apiward.gateway.pipeline import Exchange, Stage, StageContext, Verdict
from apiward.policy.stages.waf import WafConfig
from apiward.waf.config import engine_from_config, schema_path
from apiward.waf.engine import Decision, Engine
from apiward.waf.openapi import ApiSchema, load_schema
from apiward.waf.request import HttpRequest

log = logging.getLogger("apiward.gateway.stages.waf")

_DECISION_KEY = "waf"
GATEWAY_SET_HEADERS = frozenset(
    {
        "x-forwarded-for",
        "x-forwarded-proto",
        "x-forwarded-host",
        "forwarded",
        "x-real-ip",
        "x-request-id",
    }
)
"""Headers the gateway writes before the stages run; a client's own values never reach the upstream.

NOTE: from a trusted proxy the gateway keeps the received X-Forwarded-For chain and appends to it,
so those values are not inspected either.
"""
_MESSAGE = "The request was blocked by the web application firewall."
_DETECTED_MESSAGE = (
    "The web application firewall flagged this request and let it through (detect mode, a score "
    "under the threshold, or a limit set to pass)."
)


class WafStage(Stage):
    """Inspect every request field with the engine and deny or log what scores too high."""

    name = "waf"

    def __init__(self, config: WafConfig, engine: Engine) -> None:
        self.engine = engine
        self.blocking = config.mode == "block"
        self.request_body_limit = config.request_body_limit
        self.body_over_limit = config.on_limit

    def request_head(self, exchange: Exchange) -> Verdict | None:
        decision = self.engine.inspect(_request_view(exchange, b""), body=False, report_fields=False)
        exchange.stage_data[_DECISION_KEY] = decision
        return self._verdict(exchange, decision, log_event=True)

    def request_body(self, exchange: Exchange, body: bytes) -> Verdict | None:
        head: Decision | None = exchange.stage_data.get(_DECISION_KEY)
        body_decision = self.engine.inspect_body(_request_view(exchange, body), report_fields=False)
        decision = body_decision if head is None else self.engine.merge(head, body_decision)
        exchange.stage_data[_DECISION_KEY] = decision
        found_more = bool(body_decision.matches or body_decision.limit_anomalies)
        return self._verdict(exchange, decision, log_event=found_more)

    def _verdict(self, exchange: Exchange, decision: Decision, *, log_event: bool) -> Verdict | None:
        """Deny a blocked request in block mode, otherwise log what the engine found.

        The pipeline calls ``request_body`` only for requests with a body, so the head's findings
        are logged at once and the body's (scored together with the head's) when it arrives.
        """
        if not decision.matches and not decision.limit_anomalies:
            return None
        verdict = build_verdict(decision)
        if decision.blocked and self.blocking:
            return verdict
        if log_event:
            # The request goes on, so the event must not read like the 403 denial. Its status
            # stays the one a block would have returned.
            if verdict.code == "waf_blocked":
                verdict.code = "waf_detected"
            verdict.message = _DETECTED_MESSAGE
            exchange.event(verdict, self.name, "logged")
        return None


def build_verdict(decision: Decision) -> Verdict:
    """Describe a decision as a Verdict; only the generic message reaches the client."""
    top = decision.top
    limit = decision.limit_anomalies[0] if decision.limit_anomalies else None
    rule_ids = tuple(dict.fromkeys(match.rule_id for match in decision.matches))
    details: dict[str, Any] = {
        "matches": [
            {
                "rule": match.rule_id,
                "class": match.attack_class,
                "field": match.location,
                "score": match.score,
                "decoding": list(match.chain),
            }
            for match in decision.matches[:20]
        ],
    }
    code = "waf_blocked"
    category, attack_class, location = "API4:2023", "limit", None
    if limit is not None:
        details["limit"] = {"code": limit.code, "field": limit.location, "message": limit.message}
        location = limit.location
        if decision.score < decision.threshold:
            code = "waf_limit"
    if top is not None:
        category, attack_class, location = top.category, top.attack_class, top.location
    return Verdict(
        403,
        code,
        _MESSAGE,
        category=category,
        attack_class=attack_class,
        rule_ids=rule_ids,
        field=location,
        score=decision.score,
        details=details,
    )


def _request_view(exchange: Exchange, body: bytes) -> HttpRequest:
    raw_path = exchange.raw_target.split(b"?", 1)[0].decode("latin-1") if exchange.raw_target else ""
    return HttpRequest(
        method=exchange.method,
        path=raw_path or exchange.path,
        query=exchange.query,
        headers=exchange.headers.items,
        body=body,
    )


def build(config: WafConfig, context: StageContext) -> WafStage:
    """Build the stage for one route; the compiled signature database and OpenAPI documents are shared."""
    path = schema_path(config, Path(context.policy_dir) if context.policy_dir is not None else None)
    schema: ApiSchema | None = None
    if path is not None:
        key = f"waf-openapi:{path.resolve()}"
        schema = context.services.get(key)
        if schema is None:
            schema = load_schema(path)
            context.services[key] = schema
    return WafStage(config, engine_from_config(config, skip_headers=GATEWAY_SET_HEADERS, schema=schema))
