"""Configuration of the ``rate_limit`` stage."""

from __future__ import annotations

from apiward.policy.stages.base import StageConfig


class RateLimitConfig(StageConfig):
    """Configuration of the ``rate_limit`` stage."""
