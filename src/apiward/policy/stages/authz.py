"""Configuration of the ``authz`` stage."""

from __future__ import annotations

from apiward.policy.stages.base import StageConfig


class AuthzConfig(StageConfig):
    """Configuration of the ``authz`` stage."""
