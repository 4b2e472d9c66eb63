"""Configuration of the ``waf`` stage."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from apiward.policy.stages.base import StageConfig
from apiward.policy.types import ByteSize


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WafExclusion(_Model):
    """Matches the WAF ignores on this route: by rule id, by class, in some fields.

    An exclusion with no ``rules`` and no ``classes`` covers every rule; one with no ``fields``
    covers every field.
    """

    rules: list[str] = Field(
        default_factory=list, description="Rule ids such as 100100 or libinjection-sqli."
    )
    classes: list[str] = Field(default_factory=list, description="Attack classes such as sqli or xss.")
    fields: list[str] = Field(
        default_factory=list,
        description="Field locations such as body.$.comment, query.q or header.referer; "
        "* matches any characters, as in body.$.items*.note.",
    )

    @field_validator("rules", mode="before")
    @classmethod
    def _rules_as_strings(cls, value: object) -> object:
        return [str(item) for item in value] if isinstance(value, list) else value


class WafRule(_Model):
    """A custom signature written in the policy (a virtual patch)."""

    id: int = Field(ge=900_000, le=999_999, description="Rule id; 900000-999999 are kept for custom rules.")
    pattern: str = Field(
        min_length=1, description="Hyperscan (PCRE-subset) pattern, matched case-insensitively."
    )
    description: str = ""
    attack_class: str = Field("custom", alias="class", description="Class reported in events.")
    category: str = Field("API8:2023", description="OWASP API Security Top 10 2023 id reported in events.")
    score: int = Field(5, ge=1, le=100, description="Anomaly score a match adds.")
    paranoia: int = Field(1, ge=1, le=4)

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class WafConfig(StageConfig):
    """Signature and anomaly-score inspection of every request field, body included."""

    mode: Literal["block", "detect"] = Field(
        "block", description="block: deny requests at or over the threshold; detect: only log them."
    )
    paranoia: int = Field(
        1, ge=1, le=4, description="Signature paranoia level 1-4; higher levels add broader signatures."
    )
    threshold: int = Field(5, ge=1, description="Anomaly score at which a request is blocked.")
    request_body_limit: ByteSize = Field(1024 * 1024, description="Request body bytes inspected.")
    on_limit: Literal["deny", "pass"] = Field(
        "deny",
        description="What happens when a limit (body size, field count, nesting depth) is exceeded: "
        "deny the request, or pass it and log the event.",
    )
    max_fields: int = Field(2048, ge=1, description="Fields (values and names) inspected per request.")
    max_depth: int = Field(64, ge=1, description="JSON and XML nesting depth inspected.")
    max_graphql_depth: int = Field(15, ge=1, description="Selection depth of a GraphQL operation.")
    max_graphql_aliases: int = Field(30, ge=0, description="Field aliases in one GraphQL document.")
    max_graphql_batch: int = Field(10, ge=1, description="Operations in one batched GraphQL request.")
    exclusions: list[WafExclusion] = Field(default_factory=list)
    rules: list[WafRule] = Field(default_factory=list, description="Custom signatures (virtual patches).")
    openapi: str | None = Field(
        None,
        description="OpenAPI 3.0 or 3.1 document (YAML or JSON) of the route, relative to the policy "
        "file's directory. Values it types as integer, number, boolean, enum, uuid, date, date-time "
        "or email are not scanned when they validate.",
    )
