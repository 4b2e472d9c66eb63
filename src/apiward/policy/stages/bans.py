"""Configuration of the ``bans`` stage: temporary bans of clients that collect denials."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from apiward.policy.stages.base import StageConfig
from apiward.policy.types import Duration, Network


class BansConfig(StageConfig):
    """Ban a client that gets ``threshold`` denials (4xx verdicts of any stage) within ``window``."""

    threshold: int = Field(20, ge=1, description="Denials within the window that ban the client.")
    window: Duration = Field(60.0, description="Sliding window the denials are counted in.")
    duration: Duration = Field(600.0, gt=0, description="How long a ban lasts.")
    exempt_paths: list[str] = Field(
        default_factory=list,
        description="Paths (health checks), with everything below them, neither counted nor blocked.",
    )
    exempt_clients: list[Network] = Field(default_factory=list, description="Clients never banned.")
    on_store_error: Literal["deny", "allow"] = Field(
        "deny", description="What to do with a request when the ban check fails (counted and logged).",
    )
    check_cache: Duration = Field(
        0.0, description="Seconds a 'not banned' result from a shared back end is reused in this process.",
    )
