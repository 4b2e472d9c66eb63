"""Configuration of the ``authn`` stage: JWT, API keys and OAuth2 token introspection."""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from apiward.policy.stages.base import StageConfig
from apiward.policy.stages.secrets import SecretRef
from apiward.policy.types import Duration

JwtAlgorithm = Literal[
    "HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
    "ES256", "ES384", "ES512", "EdDSA",
]

_JWKS_DEFAULT_ALGORITHMS: tuple[JwtAlgorithm, ...] = ("RS256", "PS256", "ES256", "EdDSA")


_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})


def check_provider_url(value: str, what: str) -> str:
    """Accept https:// URLs, and http:// only to a loopback host, where nothing can listen in."""
    parts = urlsplit(value)
    if parts.scheme == "https" and parts.hostname:
        return value
    if parts.scheme == "http" and parts.hostname in _LOOPBACK_HOSTS:
        return value
    raise ValueError(
        f"invalid {what} {value!r}; expected an https:// URL "
        "(plain http:// only to 127.0.0.1, ::1 or localhost)"
    )


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class JwtKey(_Model):
    """One verification key, bound to exactly one algorithm."""

    algorithm: JwtAlgorithm = Field(description="The only algorithm this key verifies.")
    kid: str | None = Field(
        None, description="Key id; a token naming another kid is not checked with this key.",
    )
    pem: SecretRef | None = Field(
        None, description="Public key PEM (RS/PS/ES/EdDSA) by env: or file: reference.",
    )
    jwk: SecretRef | None = Field(None, description="One JWK (JSON) by env: or file: reference.")
    secret: SecretRef | None = Field(None, description="Shared HMAC secret (HS*) by env: or file: reference.")

    @model_validator(mode="after")
    def _one_source(self) -> JwtKey:
        given = [name for name in ("pem", "jwk", "secret") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError(f"a key needs exactly one of pem, jwk or secret; got {given or 'none'}")
        if given == ["secret"] and not self.algorithm.startswith("HS"):
            raise ValueError(f"a secret key verifies only HS256/HS384/HS512, not {self.algorithm}")
        if given == ["pem"] and self.algorithm.startswith("HS"):
            raise ValueError(f"{self.algorithm} needs a secret, not a public key PEM")
        return self


class JwksConfig(_Model):
    """A JWK Set fetched from the identity provider, refreshed on a schedule."""

    url: str = Field(description="HTTPS (or loopback HTTP) URL of the JWK Set; the only URL keys come from.")
    refresh: Duration = Field(300.0, gt=0, description="Seconds between scheduled refreshes.")
    min_refresh_interval: Duration = Field(
        30.0, description="At most one refresh for an unknown kid within this many seconds."
    )
    timeout: Duration = Field(3.0, gt=0)
    algorithms: list[JwtAlgorithm] = Field(
        default_factory=lambda: list(_JWKS_DEFAULT_ALGORITHMS),
        description="Algorithms a JWKS key may verify; a key's alg must be one of them and match its type.",
    )

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return check_provider_url(value, "JWKS URL")


class JwtConfig(_Model):
    """JWT settings: token locations, verification keys and required claims."""

    keys: list[JwtKey] = Field(default_factory=list)
    jwks: JwksConfig | None = None
    header: bool = Field(True, description="Read the token from Authorization: Bearer.")
    query: str | None = Field(None, description="Also read the token from this query parameter.")
    cookie: str | None = Field(None, description="Also read the token from this cookie.")
    issuer: str | None = Field(None, description="Required exact iss value.")
    audience: list[str] = Field(
        default_factory=list, description="The token's aud must contain one of these.",
    )
    require: list[str] = Field(default_factory=lambda: ["exp"], description="Claims that must be present.")
    leeway: Duration = Field(0.0, le=300, description="Seconds of clock skew allowed on exp, nbf and iat.")
    subject_claim: str = "sub"
    consumer_claim: str | None = Field("client_id", description="Claim naming the consumer (application).")
    scopes_claim: str = Field("scope", description="Space-separated string or list of scopes.")
    roles_claim: str = "roles"
    cache_size: int = Field(10_000, ge=0, description="Verified tokens kept, keyed by the token itself.")

    @model_validator(mode="after")
    def _some_key(self) -> JwtConfig:
        if not self.keys and self.jwks is None:
            raise ValueError("jwt needs keys or a jwks URL to verify tokens with")
        return self


class ApiKeyEntry(_Model):
    """One API key, stored as the hex SHA-256 of the key."""

    sha256: str = Field(description="Hex SHA-256 of the key (`printf %s KEY | sha256sum`).")
    consumer: str
    scopes: list[str] = Field(default_factory=list)
    roles: list[str] = Field(default_factory=list)

    @field_validator("sha256")
    @classmethod
    def _hex_digest(cls, value: str) -> str:
        digest = value.strip().lower()
        if len(digest) != 64 or any(char not in "0123456789abcdef" for char in digest):
            raise ValueError("invalid sha256; expected 64 hex digits, the SHA-256 of the key (never the key)")
        return digest


class ApiKeyConfig(_Model):
    header: str = Field("x-api-key", description="Request header carrying the key.")
    query: str | None = Field(None, description="Also accept the key in this query parameter.")
    keys: list[ApiKeyEntry] = Field(min_length=1)

    @field_validator("header")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.lower()


class IntrospectionConfig(_Model):
    """OAuth2 token introspection (RFC 7662) for opaque bearer tokens."""

    url: str = Field(description="HTTPS (or loopback HTTP) URL of the introspection endpoint.")
    client_id: str
    client_secret: SecretRef
    timeout: Duration = Field(3.0, gt=0)
    cache_ttl: Duration = Field(
        60.0, description="Maximum time a response is reused (never past the token's exp).",
    )
    cache_size: int = Field(10_000, ge=0)

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return check_provider_url(value, "introspection URL")


class AuthnConfig(StageConfig):
    """Authenticate the caller by JWT, API key or token introspection (tried in that order)."""

    required: bool = Field(True, description="Deny a request that carries no credentials (401).")
    realm: str = Field("api", description="Realm named in WWW-Authenticate.")
    jwt: JwtConfig | None = None
    api_key: ApiKeyConfig | None = None
    introspection: IntrospectionConfig | None = None

    @model_validator(mode="after")
    def _some_method(self) -> AuthnConfig:
        if self.jwt is None and self.api_key is None and self.introspection is None:
            raise ValueError("authn needs at least one of jwt, api_key or introspection")
        if self.jwt is not None and self.introspection is not None:
            raise ValueError("use jwt or introspection for bearer tokens, not both")
        return self
