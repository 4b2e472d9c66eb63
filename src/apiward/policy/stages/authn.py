"""Configuration of the ``authn`` stage."""

from __future__ import annotations

from apiward.policy.stages.base import StageConfig


class AuthnConfig(StageConfig):
    """Configuration of the ``authn`` stage."""
