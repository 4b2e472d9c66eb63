"""Configuration of the ``methods`` stage."""

from __future__ import annotations

from pydantic import Field, field_validator

from apiward.policy.stages.base import StageConfig

_TOKEN_CHARS = frozenset("!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")


class MethodsConfig(StageConfig):
    """Per-route allow-list of HTTP methods; other methods get 405 with an ``Allow`` header."""

    allow: list[str] = Field(description="Allowed methods, for example [GET, POST].")

    @field_validator("allow")
    @classmethod
    def _upper_tokens(cls, value: list[str]) -> list[str]:
        methods = [method.strip().upper() for method in value]
        for method in methods:
            if not method or not set(method) <= _TOKEN_CHARS:
                raise ValueError(f"invalid HTTP method {method!r}")
        if not methods:
            raise ValueError("the allow-list is empty, so every request would be denied")
        return methods
