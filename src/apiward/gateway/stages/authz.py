"""The ``authz`` stage: function-level rules and object binding, plus the enumeration signal.

1. A route that requires authentication denies a caller without identity (401).
2. Every rule that applies to the method must pass: all its scopes, one of its roles, and
   its claim values (403, ``insufficient_scope`` when scopes are missing).
3. Every object binding must hold: the path or query parameter equals the bound claim, unless
   the caller has one of the exempt roles or scopes (403).

``log`` watches the response statuses: one identity that gets 403/404 for ``distinct_ids`` different
object ids of the route within the window raises a SecurityEvent (``object_enumeration``) and,
when configured, bans the client.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import parse_qsl

from apiward.gateway.pipeline import Exchange, Identity, Stage, StageContext, Verdict
from apiward.gateway.stages.access_support import client_key, release_state, short_value, spawn, state_for
from apiward.policy.stages.authz import AuthzConfig, AuthzRule, EnumerationConfig, ObjectBinding
from apiward.state import IPV6_BAN_PREFIX, MemoryState, StateStore

log = logging.getLogger("apiward.security.authz")

_TEMPLATE_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True, slots=True)
class _Binding:
    param: str
    query: bool
    claim: str
    unless_roles: frozenset[str]
    unless_scopes: frozenset[str]


class AuthzStage(Stage):
    """Deny what the caller's scopes, roles, claims or object ownership do not allow."""

    name: ClassVar[str] = "authz"

    def __init__(self, config: AuthzConfig, context: StageContext) -> None:
        self.require_authentication = config.require_authentication
        self.rules = tuple(config.rules)
        template = str(getattr(getattr(context.route, "match", None), "path", ""))
        self.bindings = tuple(_compile_binding(binding, template) for binding in config.bind)
        self.route_name = str(getattr(context.route, "name", ""))
        self.enumeration = config.enumeration
        self.store: StateStore | None = state_for(context) if config.enumeration else None
        self.services = context.services
        self.signalled: dict[str, float] = {}

    async def close(self) -> None:
        if self.store is not None:
            await release_state(self.services)

    def request_head(self, exchange: Exchange) -> Verdict | None:
        identity = exchange.identity
        if identity is None:
            if self.require_authentication:
                return Verdict(
                    401, "authentication_required", "Authentication is required.",
                    headers=[("www-authenticate", 'Bearer realm="api"')], category="API2:2023",
                )
            return None
        for rule in self.rules:
            if rule.methods is None or exchange.method in rule.methods:
                verdict = _check_rule(rule, identity)
                if verdict is not None:
                    return verdict
        for binding in self.bindings:
            verdict = _check_binding(binding, identity, exchange)
            if verdict is not None:
                return verdict
        return None

    def log(self, exchange: Exchange) -> None:
        config = self.enumeration
        if config is None or self.store is None:
            return
        status = exchange.verdict.status if exchange.verdict is not None else exchange.status
        if status not in config.statuses:
            return
        object_id = self._object_id(exchange)
        if object_id is None:
            return
        who = _caller(exchange)
        window = f"enum:{self.route_name}:{who}"
        if isinstance(self.store, MemoryState):
            count = self.store.window_add_now(window, object_id, config.window, config.distinct_ids)
            self._maybe_signal(exchange, who, count, config)
        else:
            spawn(self._count_shared(exchange, who, window, object_id, config), "authz.enumeration")

    def _object_id(self, exchange: Exchange) -> str | None:
        values = [exchange.path_params[name] for name in sorted(exchange.path_params)]
        if not values and self.bindings:
            query = dict(parse_qsl(exchange.query, keep_blank_values=True))
            values = [query.get(binding.param, "") for binding in self.bindings if binding.query]
        if not values or not any(values):
            return None
        return short_value("/".join(values))

    async def _count_shared(
        self, exchange: Exchange, who: str, window: str, object_id: str, config: EnumerationConfig,
    ) -> None:
        assert self.store is not None
        count = await self.store.window_add(window, object_id, config.window, config.distinct_ids)
        self._maybe_signal(exchange, who, count, config)

    def _maybe_signal(self, exchange: Exchange, who: str, count: int, config: EnumerationConfig) -> None:
        if count < config.distinct_ids:
            return
        now = time.monotonic()
        if self.signalled.get(who, 0.0) > now:
            return
        if len(self.signalled) > 10_000:
            self.signalled.clear()
        self.signalled[who] = now + config.window
        verdict = Verdict(
            exchange.status, "object_enumeration",
            "One caller requested many object ids of this route and was denied.",
            category="API1:2023", attack_class="enumeration",
            details={"caller": who, "distinct_ids": count, "window": config.window},
        )
        # A logged event: the proxy sends it to the security sink when the exchange ends, or at
        # once through Exchange.late_sink when this runs in a task after the end.
        exchange.event(verdict, self.name, "logged")
        log.warning(
            "object enumeration on route %s by %s: %d distinct ids denied within %gs",
            self.route_name, who, count, config.window,
        )
        if config.ban is not None and self.store is not None:
            client = client_key(exchange, 32, IPV6_BAN_PREFIX)
            spawn(self.store.ban(client, config.ban, "object enumeration"), "authz.ban")


def _caller(exchange: Exchange) -> str:
    identity = exchange.identity
    if identity is not None:
        return "sub=" + short_value(identity.subject)
    return "client=" + client_key(exchange, 32, IPV6_BAN_PREFIX)


def _forbidden(code: str, message: str, **details: Any) -> Verdict:
    return Verdict(403, code, message, category="API5:2023", details=details)


def _check_rule(rule: AuthzRule, identity: Identity) -> Verdict | None:
    missing = [scope for scope in rule.scopes if scope not in identity.scopes]
    if missing:
        challenge = f'Bearer error="insufficient_scope", scope="{" ".join(rule.scopes)}"'
        message = "The access token lacks a required scope."
        verdict = _forbidden("insufficient_scope", message, missing=missing)
        verdict.headers.append(("www-authenticate", challenge))
        return verdict
    if rule.roles and not identity.roles.intersection(rule.roles):
        return _forbidden("forbidden", "The caller is not allowed to use this operation.", roles=rule.roles)
    for claim, expected in rule.claims.items():
        actual = identity.subject if claim == "sub" else identity.claims.get(claim)
        allowed = expected if isinstance(expected, list) else [expected]
        if actual is None or actual not in allowed:
            return _forbidden("forbidden", "The caller is not allowed to use this operation.", claim=claim)
    return None


def _check_binding(binding: _Binding, identity: Identity, exchange: Exchange) -> Verdict | None:
    if identity.roles & binding.unless_roles or identity.scopes & binding.unless_scopes:
        return None
    if binding.query:
        values = [value for name, value in parse_qsl(exchange.query, keep_blank_values=True)
                  if name == binding.param]
    else:
        value = exchange.path_params.get(binding.param)
        values = [] if value is None else [value]
    owner = identity.subject if binding.claim == "sub" else identity.claims.get(binding.claim)
    owner_text = None if owner is None or isinstance(owner, dict | list) else str(owner)
    # Every copy of a repeated query parameter must match, so parameter pollution cannot
    # put the caller's id first and another id last.
    if not values or owner_text is None or any(value != owner_text for value in values):
        return Verdict(
            403, "forbidden", "The caller may not access this object.", category="API1:2023",
            details={"param": binding.param, "claim": binding.claim},
        )
    return None


def _compile_binding(binding: ObjectBinding, template: str) -> _Binding:
    query = binding.param.startswith("query:")
    param = binding.param.removeprefix("query:")
    if not query and param not in _TEMPLATE_PARAM.findall(template):
        raise ValueError(
            f"authz bind: parameter {param!r} is not in the route path {template!r}; "
            f"use a template parameter such as {{{param}}} or query:{param}"
        )
    return _Binding(
        param, query, binding.claim, frozenset(binding.unless_roles), frozenset(binding.unless_scopes),
    )


def build(config: Any, context: StageContext) -> Stage:
    return AuthzStage(config, context)
