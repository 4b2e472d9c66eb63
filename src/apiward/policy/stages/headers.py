"""Configuration of the ``headers`` stage: security response headers and CORS."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from apiward.policy.stages.base import StageConfig
from apiward.policy.types import Duration

_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_FIELD_VALUE = re.compile(r"[\t\x20-\x7e\x80-\xff]*")
_ORIGIN = re.compile(r"(https?)://(\*\.)?([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*)(:\d{1,5})?")
_DEFAULT_CORS_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]


def _check_header_name(name: str) -> str:
    if not _TOKEN.fullmatch(name):
        raise ValueError(f"invalid header name {name!r}; expected a token such as X-Frame-Options")
    return name.lower()


def _check_header_value(name: str, value: str) -> str:
    if not _FIELD_VALUE.fullmatch(value):
        raise ValueError(
            f"invalid value for header {name!r}: control characters such as CR or LF are not allowed"
        )
    return value.strip()


class CorsConfig(BaseModel):
    """Cross-origin resource sharing, handled by the gateway with an origin allow-list."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    allow_origins: list[str] = Field(
        min_length=1,
        description="Origins such as https://app.example.com, patterns such as https://*.example.com "
        "(any subdomain, not the domain itself), or * for any origin (not with allow_credentials).",
    )
    allow_methods: list[str] = Field(
        default_factory=lambda: list(_DEFAULT_CORS_METHODS),
        description="Methods a preflight may ask for.",
    )
    allow_headers: list[str] = Field(
        default_factory=lambda: ["authorization", "content-type"],
        description="Request headers a preflight may ask for; * allows any (not with allow_credentials).",
    )
    expose_headers: list[str] = Field(
        default_factory=list, description="Response headers a browser script may read."
    )
    allow_credentials: bool = Field(False, description="Let browsers send cookies and HTTP authentication.")
    max_age: Duration = Field(600, description="How long a browser may cache a preflight response.")

    @field_validator("allow_origins")
    @classmethod
    def _valid_origins(cls, value: list[str]) -> list[str]:
        origins = [origin.strip().rstrip("/").lower() for origin in value]
        for origin in origins:
            if origin == "*":
                continue
            if origin == "null":
                raise ValueError(
                    "origin 'null' is sent by sandboxed pages and local files, so allowing it "
                    "lets any such page in; list real origins instead"
                )
            if not _ORIGIN.fullmatch(origin):
                raise ValueError(
                    f"invalid origin {origin!r}; expected scheme://host[:port] such as "
                    "https://app.example.com or https://*.example.com, with no path"
                )
        return origins

    @field_validator("allow_methods")
    @classmethod
    def _valid_methods(cls, value: list[str]) -> list[str]:
        methods = [method.strip().upper() for method in value]
        for method in methods:
            if not _TOKEN.fullmatch(method):
                raise ValueError(f"invalid HTTP method {method!r}")
        return methods

    @field_validator("allow_headers", "expose_headers")
    @classmethod
    def _valid_header_names(cls, value: list[str]) -> list[str]:
        return [name.strip() if name.strip() == "*" else _check_header_name(name.strip()) for name in value]

    @model_validator(mode="after")
    def _no_wildcard_with_credentials(self) -> CorsConfig:
        if self.allow_credentials and "*" in self.allow_origins:
            raise ValueError(
                "allow_origins '*' together with allow_credentials would let any site make "
                "authenticated requests; list the allowed origins instead"
            )
        if self.allow_credentials and "*" in self.allow_headers:
            raise ValueError(
                "allow_headers '*' together with allow_credentials is not honoured by browsers; "
                "list the allowed headers instead"
            )
        return self


class HeadersConfig(StageConfig):
    """Security headers added to every response of the route, and CORS.

    Headers the gateway sets replace fields of the same name that the upstream sent.
    A value of null switches a default header off.
    """

    strict_transport_security: str | None = Field(
        "max-age=31536000; includeSubDomains",
        description="Strict-Transport-Security, sent only on HTTPS listeners.",
    )
    content_security_policy: str | None = Field(
        "default-src 'none'; frame-ancestors 'none'",
        description="Content-Security-Policy; the default suits JSON APIs that serve no documents.",
    )
    content_type_options: str | None = Field("nosniff", description="X-Content-Type-Options.")
    referrer_policy: str | None = Field("no-referrer", description="Referrer-Policy.")
    cache_control: str | None = Field(
        None, description="Cache-Control, for example no-store; the upstream's value is kept when unset."
    )
    set_headers: dict[str, str] = Field(
        default_factory=dict, description="More response headers to add, replacing the upstream's value."
    )
    remove_headers: list[str] = Field(
        default_factory=lambda: ["server", "x-powered-by"],
        description="Upstream response headers to remove, because they reveal the software behind the API.",
    )
    cors: CorsConfig | None = None

    @field_validator(
        "strict_transport_security", "content_security_policy", "content_type_options",
        "referrer_policy", "cache_control",
    )
    @classmethod
    def _valid_value(cls, value: str | None) -> str | None:
        return None if value is None else _check_header_value("header", value)

    @field_validator("set_headers")
    @classmethod
    def _valid_set_headers(cls, value: dict[str, str]) -> dict[str, str]:
        return {_check_header_name(name): _check_header_value(name, text) for name, text in value.items()}

    @field_validator("remove_headers")
    @classmethod
    def _valid_remove_headers(cls, value: list[str]) -> list[str]:
        return [_check_header_name(name.strip()) for name in value]
