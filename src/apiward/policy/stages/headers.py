"""Configuration of the ``headers`` stage."""

from __future__ import annotations

from apiward.policy.stages.base import StageConfig


class HeadersConfig(StageConfig):
    """Configuration of the ``headers`` stage."""
