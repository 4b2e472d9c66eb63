"""Configuration of the ``waf`` stage."""

from __future__ import annotations

from apiward.policy.stages.base import StageConfig


class WafConfig(StageConfig):
    """Configuration of the ``waf`` stage."""
