"""The policy model: listeners, upstreams, routes and the stages configured on each route.

A policy file is YAML read into :class:`Policy`. Every stage is configured by a key of its own
name on a route (``ip_filter: {deny: [...]}``); a key in the top-level ``defaults:`` block applies
to every route that does not set that key itself.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from apiward.policy.stages.authn import AuthnConfig
from apiward.policy.stages.authz import AuthzConfig
from apiward.policy.stages.bans import BansConfig
from apiward.policy.stages.base import StageConfig
from apiward.policy.stages.geo import GeoConfig
from apiward.policy.stages.headers import HeadersConfig
from apiward.policy.stages.ip_filter import IpFilterConfig
from apiward.policy.stages.methods import MethodsConfig
from apiward.policy.stages.rate_limit import QuotaConfig, RateLimitConfig
from apiward.policy.stages.waf import WafConfig
from apiward.policy.types import ByteSize, Duration, HostPort, Network


class PolicyReferenceError(ValueError):
    """Cross-references in the policy (route to upstream, for example) point nowhere.

    ``problems`` contains (field path, message) pairs, so the loader can name each offending line.
    """

    def __init__(self, problems: list[tuple[tuple[str | int, ...], str]]) -> None:
        super().__init__("; ".join(message for _, message in problems))
        self.problems = problems


def reference_problems(
    upstream_names: Iterable[str], routes: Sequence[tuple[object, object]]
) -> list[tuple[tuple[str | int, ...], str]]:
    """List every route whose upstream is unknown or whose name repeats an earlier route's.

    ``routes`` contains (name, upstream) pairs in policy order. The loader also calls this on
    the raw YAML data, so these problems are reported beside schema errors.
    """
    known = sorted(upstream_names)
    problems: list[tuple[tuple[str | int, ...], str]] = []
    names: set[object] = set()
    for index, (name, upstream) in enumerate(routes):
        if isinstance(upstream, str) and upstream not in known:
            problems.append(
                (("routes", index, "upstream"), f"unknown upstream {upstream!r}; known: {', '.join(known)}")
            )
        if isinstance(name, str) and name in names:
            problems.append((("routes", index, "name"), f"duplicate route name {name!r}"))
        names.add(name)
    return problems


STAGE_NAMES: tuple[str, ...] = (
    "headers", "bans", "ip_filter", "geo", "methods", "rate_limit", "authn", "quota", "authz", "waf",
)
"""Stage keys in the order their request hooks run; response hooks run in reverse.

``headers`` comes first so that its response hook also runs on every denial of the stages after
it: the gateway's own responses carry the security headers too. The price is that the gateway
responds to a CORS preflight before the ban and IP checks. That response reveals only the CORS
settings.
"""

_PATH_TEMPLATE = re.compile(r"^/(?:[^{}]*|\{[A-Za-z_][A-Za-z0-9_]*\})*$")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TlsConfig(_Model):
    """TLS termination on a listener (TLS 1.2 and later only)."""

    cert: str = Field(description="Path of the PEM certificate chain.")
    key: str = Field(description="Path of the PEM private key.")
    redirect_from: HostPort | None = Field(
        None, description="Also listen on this plain-HTTP address and redirect every request to HTTPS."
    )


class Listener(_Model):
    """One address the gateway accepts client connections on."""

    address: HostPort
    tls: TlsConfig | None = None


class AdminListener(_Model):
    """The admin listener, separate from client traffic: Prometheus ``/metrics`` and health."""

    address: HostPort = ("127.0.0.1", 9901)


class Limits(_Model):
    """Connection, size and time limits of the client side."""

    max_header_count: int = Field(100, ge=1, description="More request headers get 431.")
    max_header_bytes: ByteSize = Field(32 * 1024, description="Larger request heads get 431.")
    max_body_bytes: ByteSize = Field(10 * 1024**3, description="Larger request bodies get 413.")
    header_timeout: Duration = Field(10.0, description="Time to receive a whole request head (408).")
    body_timeout: Duration = Field(30.0, description="Time allowed between two reads of the body (408).")
    idle_timeout: Duration = Field(60.0, description="An idle keep-alive connection is closed after this.")
    max_connections: int = Field(10_000, ge=1, description="Client connections beyond this get 503.")
    max_connections_per_client: int | None = Field(
        None, ge=1,
        description="Open connections allowed from one client address (IPv6 by /64); more get 503.",
    )
    max_pipelined: int = Field(32, ge=1, description="Requests read ahead on one connection.")


class PassiveHealth(_Model):
    """Eject a target after consecutive failures and retry it after a back-off."""

    max_failures: int = Field(3, ge=1)
    backoff: Duration = 10.0


class ActiveHealth(_Model):
    """Probe every target periodically with a GET."""

    path: str = "/health"
    interval: Duration = 5.0
    timeout: Duration = 2.0
    healthy_statuses: list[int] = Field(default_factory=lambda: [200, 204])
    unhealthy_after: int = Field(2, ge=1)
    healthy_after: int = Field(1, ge=1)


class HealthConfig(_Model):
    passive: PassiveHealth = PassiveHealth()
    active: ActiveHealth | None = None


class Target(_Model):
    address: HostPort
    weight: int = Field(1, ge=1, le=1000)


class Upstream(_Model):
    """A named group of targets the gateway forwards to."""

    targets: list[Target] = Field(min_length=1)
    balance: Literal["round_robin", "least_connections", "consistent_hash"] = "round_robin"
    connect_timeout: Duration = 5.0
    read_timeout: Duration = 60.0
    max_idle_connections: int = Field(64, ge=0, description="Idle keep-alive connections per target.")
    idle_timeout: Duration = 60.0
    retries: int = Field(1, ge=0, le=10, description="Retries of idempotent requests on another target.")
    health: HealthConfig = HealthConfig()
    tls: bool = Field(False, description="Connect to the targets over TLS.")

    @field_validator("targets", mode="before")
    @classmethod
    def _targets_from_strings(cls, value: object) -> object:
        if isinstance(value, list):
            return [{"address": item} if isinstance(item, str) else item for item in value]
        return value


class Match(_Model):
    """The requests a route takes: a path prefix or template, and optionally methods."""

    path: str = Field(description="A prefix such as /api/ or a template such as /users/{id}.")
    methods: list[str] | None = None
    case_sensitive: bool = Field(
        False, description="Match the path case-sensitively; by default /ADMIN matches a rule on /admin."
    )

    @field_validator("path")
    @classmethod
    def _valid_template(cls, value: str) -> str:
        if not _PATH_TEMPLATE.match(value):
            raise ValueError(
                f"invalid path {value!r}; expected a path starting with / where parameters "
                "look like {name}"
            )
        return value

    @field_validator("methods")
    @classmethod
    def _upper(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else [method.upper() for method in value]


class StageSettings(_Model):
    """The stage keys, shared by routes and by the ``defaults:`` block."""

    bans: BansConfig | None = None
    ip_filter: IpFilterConfig | None = None
    headers: HeadersConfig | None = None
    geo: GeoConfig | None = None
    methods: MethodsConfig | None = None
    rate_limit: RateLimitConfig | None = None
    authn: AuthnConfig | None = None
    quota: QuotaConfig | None = None
    authz: AuthzConfig | None = None
    waf: WafConfig | None = None


class Route(StageSettings):
    """Requests matching ``match`` go to ``upstream`` through the configured stages."""

    name: str
    match: Match
    upstream: str
    allow_encoded_slashes: bool = Field(
        False, description="Accept %2F in the path (kept encoded when forwarded)."
    )


class Defaults(StageSettings):
    """Stage settings that apply to every route which does not set the same key."""


class LoggingConfig(_Model):
    access_log: str = Field("stdout", description="stdout, stderr, off, or a file path.")
    security_log: str = Field("stderr", description="stdout, stderr, off, or a file path.")
    level: Literal["debug", "info", "warning", "error"] = "info"

    @field_validator("access_log", "security_log", mode="before")
    @classmethod
    def _off_from_yaml_bool(cls, value: object) -> object:
        # YAML 1.1 reads a bare `off` as false; a user writing `access_log: off` means "off".
        if value is False:
            return "off"
        return value


class Policy(_Model):
    """A whole gateway policy file."""

    listen: list[Listener] = Field(min_length=1)
    admin: AdminListener | None = None
    trusted_proxies: list[Network] = Field(
        default_factory=list,
        description="Peers whose X-Forwarded-For / Forwarded / X-Request-Id are believed.",
    )
    limits: Limits = Limits()
    upstreams: dict[str, Upstream] = Field(min_length=1)
    routes: list[Route] = Field(min_length=1)
    defaults: Defaults = Defaults()
    state: str = Field("memory", description="memory, or a redis:// URL shared by gateway nodes.")
    logging: LoggingConfig = LoggingConfig()

    @model_validator(mode="after")
    def _check_references(self) -> Policy:
        problems = reference_problems(
            self.upstreams, [(route.name, route.upstream) for route in self.routes]
        )
        if problems:
            raise PolicyReferenceError(problems)
        return self

    def stage_config(self, route: Route, stage: str) -> StageConfig | None:
        """Return the effective configuration of ``stage`` on ``route``, or None when it is off."""
        config: StageConfig | None = getattr(route, stage)
        if config is None:
            config = getattr(self.defaults, stage)
        if config is None or not config.enabled:
            return None
        return config


