"""Configuration of the ``geo`` stage."""

from __future__ import annotations

from apiward.policy.stages.base import StageConfig


class GeoConfig(StageConfig):
    """Configuration of the ``geo`` stage."""
