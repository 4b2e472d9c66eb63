"""Fields every stage configuration shares."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class StageConfig(BaseModel):
    """Base of every stage's configuration block on a route or in ``defaults:``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(True, description="Set to false to switch off a stage inherited from defaults.")
    fail_open: bool = Field(
        False,
        description="Let the request through when the stage itself fails (counted and logged). "
        "By default a failing stage denies the request.",
    )
