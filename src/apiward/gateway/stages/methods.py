"""The ``methods`` stage: a per-route allow-list of HTTP methods.

Other methods get 405 ``method_not_allowed`` with an ``Allow`` header listing the allowed
ones. Method names are compared exactly, as HTTP defines them case-sensitive, so ``get`` is not
``GET``. Denials use OWASP API Security Top 10 2023 category ``API5:2023`` (Broken Function Level
Authorization), which covers reaching functions through unexpected methods.
"""

from __future__ import annotations

from typing import Any

from apiward.gateway.pipeline import Exchange, Stage, StageContext, Verdict
from apiward.policy.stages.methods import MethodsConfig

CATEGORY = "API5:2023"


class MethodsStage(Stage):
    """Denies requests whose method is not in the route's allow-list."""

    name = "methods"

    def __init__(self, config: MethodsConfig) -> None:
        self._allowed = frozenset(config.allow)
        self._allow_header = ", ".join(dict.fromkeys(config.allow))

    def request_head(self, exchange: Exchange) -> Verdict | None:
        if exchange.method in self._allowed:
            return None
        return Verdict(
            405, "method_not_allowed", "This method is not allowed on this path.",
            headers=[("allow", self._allow_header)], category=CATEGORY,
            details={"method": exchange.method[:32]},
        )


def build(config: Any, context: StageContext) -> MethodsStage:
    if not isinstance(config, MethodsConfig):
        raise TypeError(f"methods stage needs a MethodsConfig, got {type(config).__name__}")
    return MethodsStage(config)
