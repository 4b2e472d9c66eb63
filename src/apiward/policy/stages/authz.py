"""Configuration of the ``authz`` stage: function- and object-level authorization."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from apiward.policy.stages.base import StageConfig
from apiward.policy.types import Duration


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AuthzRule(_Model):
    """Requirements for the listed methods (every method when none are listed)."""

    methods: list[str] | None = None
    scopes: list[str] = Field(default_factory=list, description="Every one of these scopes is required.")
    roles: list[str] = Field(default_factory=list, description="One of these roles is required.")
    claims: dict[str, Any] = Field(
        default_factory=dict, description="Claim values required; a list value means one of them."
    )

    @field_validator("methods")
    @classmethod
    def _upper(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else [method.upper() for method in value]


class ObjectBinding(_Model):
    """Tie a path or query parameter to a claim: ``/users/{user_id}`` requires user_id == sub."""

    param: str = Field(description="Path template parameter, or query:<name> for a query parameter.")
    claim: str = Field("sub", description="Claim (or subject) the parameter must equal.")
    unless_roles: list[str] = Field(default_factory=list, description="Roles that may access any object.")
    unless_scopes: list[str] = Field(default_factory=list, description="Scopes that may access any object.")


class EnumerationConfig(_Model):
    """Signal one identity touching many object ids of the route and getting denials."""

    distinct_ids: int = Field(
        20, ge=2, description="Distinct object ids denied within the window that raise the signal.",
    )
    window: Duration = Field(60.0, gt=0)
    statuses: list[int] = Field(default_factory=lambda: [403, 404])
    ban: Duration | None = Field(None, description="Also ban the client for this long when the signal fires.")


class AuthzConfig(StageConfig):
    """Route authorization: required scopes, roles and claims, and object ownership."""

    require_authentication: bool = Field(True, description="Deny callers without an identity (401).")
    rules: list[AuthzRule] = Field(
        default_factory=list, description="Every rule that names the method must pass.",
    )
    bind: list[ObjectBinding] = Field(default_factory=list)
    enumeration: EnumerationConfig | None = None
