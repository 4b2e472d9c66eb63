"""The ``quota`` stage: the rate_limit stage placed after ``authn``, so limits key on the consumer."""

from __future__ import annotations

from typing import Any

from apiward.gateway.pipeline import Stage, StageContext
from apiward.gateway.stages.rate_limit import build_named


def build(config: Any, context: StageContext) -> Stage:
    return build_named(config, context, "quota")
