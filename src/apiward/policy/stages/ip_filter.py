"""Configuration of the ``ip_filter`` stage."""

from __future__ import annotations

from pydantic import Field, model_validator

from apiward.policy.stages.base import StageConfig
from apiward.policy.types import Network


class IpFilterConfig(StageConfig):
    """Allow and deny CIDR lists applied to the resolved client address."""

    allow: list[Network] = Field(
        default_factory=list,
        description="When not empty, only clients inside one of these blocks are let through.",
    )
    deny: list[Network] = Field(
        default_factory=list, description="Clients inside one of these blocks are denied (403)."
    )

    @model_validator(mode="after")
    def _some_list(self) -> IpFilterConfig:
        if self.enabled and not self.allow and not self.deny:
            raise ValueError("ip_filter needs an allow or a deny list of CIDR blocks")
        return self
