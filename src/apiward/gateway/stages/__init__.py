"""Gateway stages, one module per control, each exposing ``build(config, context) -> Stage``.

The module name is the stage's policy key (``apiward.gateway.stages.ip_filter`` for
``ip_filter:``); the order in which they run is ``apiward.policy.model.STAGE_NAMES``.
"""

from __future__ import annotations

import importlib
from typing import Any

from apiward.gateway.pipeline import Stage, StageContext


def build_stage(name: str, config: Any, context: StageContext) -> Stage:
    """Build the stage called ``name`` from its validated configuration."""
    module = importlib.import_module(f"apiward.gateway.stages.{name}")
    stage: Stage = module.build(config, context)
    stage.fail_open = bool(getattr(config, "fail_open", False))
    return stage
