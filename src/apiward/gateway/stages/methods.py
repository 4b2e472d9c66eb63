"""The ``methods`` stage: a per-route allow-list of HTTP methods.

Other methods get 405 ``method_not_allowed`` with an ``Allow`` header listing the allowed
ones. Method names are compared exactly, as HTTP defines them case-sensitive, so ``get`` is not
``GET``. Denials use OWASP API Security Top 10 2023 category ``API5:2023`` (Broken Function Level
Authorization), which covers reaching functions through unexpected methods.

Many frameworks let a POST act as another method through an override header
(``X-HTTP-Method-Override``, ``X-HTTP-Method``, ``X-Method-Override``) or a ``_method`` query
parameter. An override naming a method outside the allow-list is denied the same way, so it
cannot be used to reach a forbidden method.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from apiward.gateway.pipeline import Exchange, Stage, StageContext, Verdict
from apiward.policy.stages.methods import MethodsConfig

CATEGORY = "API5:2023"
OVERRIDE_HEADERS = frozenset(("x-http-method-override", "x-http-method", "x-method-override"))


class MethodsStage(Stage):
    """Denies requests whose method, or method override, is not in the route's allow-list."""

    name = "methods"

    def __init__(self, config: MethodsConfig) -> None:
        self._allowed = frozenset(config.allow)
        self._allow_header = ", ".join(dict.fromkeys(config.allow))

    def request_head(self, exchange: Exchange) -> Verdict | None:
        if exchange.method not in self._allowed:
            return self._deny(exchange.method, None)
        for name, value in exchange.headers.items:
            if name in OVERRIDE_HEADERS and value.strip().upper() not in self._allowed:
                return self._deny(value, name)
        if "_method" in exchange.query:
            for key, value in parse_qsl(exchange.query, keep_blank_values=True):
                if key == "_method" and value.strip().upper() not in self._allowed:
                    return self._deny(value, "query._method")
        return None

    def _deny(self, method: str, override: str | None) -> Verdict:
        details: dict[str, Any] = {"method": method[:32]}
        if override is not None:
            details["override"] = override
        return Verdict(
            405, "method_not_allowed", "This method is not allowed on this path.",
            headers=[("allow", self._allow_header)], category=CATEGORY, details=details,
        )


def build(config: Any, context: StageContext) -> MethodsStage:
    if not isinstance(config, MethodsConfig):
        raise TypeError(f"methods stage needs a MethodsConfig, got {type(config).__name__}")
    return MethodsStage(config)
