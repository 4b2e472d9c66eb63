"""Configuration of the ``geo`` stage."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from apiward.policy.stages.base import StageConfig


class GeoConfig(StageConfig):
    """Country allow and deny lists looked up in a MaxMind-format ``.mmdb`` database."""

    database: str = Field(description="Path of the .mmdb file (GeoLite2-Country or compatible).")
    allow: list[str] = Field(default_factory=list, description="ISO 3166-1 alpha-2 codes let through.")
    deny: list[str] = Field(default_factory=list, description="ISO 3166-1 alpha-2 codes denied (403).")
    unknown: Literal["allow", "deny"] | None = Field(
        None, description="Clients whose country is not in the database; default deny when allow is set."
    )

    @field_validator("allow", "deny")
    @classmethod
    def _country_codes(cls, value: list[str]) -> list[str]:
        codes = [code.strip().upper() for code in value]
        for code in codes:
            if len(code) != 2 or not code.isalpha() or not code.isascii():
                raise ValueError(f"invalid country code {code!r}; expected ISO 3166-1 alpha-2 such as DE")
        return codes

    @model_validator(mode="after")
    def _some_list(self) -> GeoConfig:
        if not self.allow and not self.deny:
            raise ValueError("geo needs an allow or a deny list of country codes")
        return self
