"""Configuration of the ``quota`` stage: rate limits that run after ``authn``."""

from __future__ import annotations

from apiward.policy.stages.rate_limit import QuotaConfig

__all__ = ["QuotaConfig"]
