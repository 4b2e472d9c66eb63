"""Configuration of the ``rate_limit`` stage and of ``quota`` (the same limits keyed after authn)."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from apiward.policy.stages.base import StageConfig
from apiward.policy.types import Network

_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*([a-z]+)\s*$")
_PERIODS = {
    "s": 1.0, "sec": 1.0, "second": 1.0, "m": 60.0, "min": 60.0, "minute": 60.0,
    "h": 3600.0, "hour": 3600.0, "d": 86400.0, "day": 86400.0, "month": 30 * 86400.0,
}
_KEY_PARTS = ("client", "consumer", "route", "global")


def parse_rate(value: Any) -> tuple[int, float]:
    """Parse ``"10/s"``, ``"1000/day"`` or ``"50/10s"`` into (requests, period in seconds)."""
    if isinstance(value, tuple):
        return value
    match = _RATE.match(value) if isinstance(value, str) else None
    unit = match.group(3) if match else ""
    if match is None or unit not in _PERIODS:
        raise ValueError(
            f"invalid rate {value!r}; expected requests/period such as 10/s, 100/min, 5000/hour, "
            "1000/day, 100000/month or 50/10s"
        )
    count = int(match.group(1))
    period = _PERIODS[unit] * (int(match.group(2)) if match.group(2) else 1)
    if count < 1 or period <= 0:
        raise ValueError(f"invalid rate {value!r}; requests and period must be positive")
    return count, period


Rate = Annotated[tuple[int, float], BeforeValidator(parse_rate)]


class Limit(BaseModel):
    """One limit: a sustained rate, a burst, and what the bucket is keyed on."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rate: Rate = Field(description="Requests per period, e.g. 10/s or 1000/day (a month is 30 days).")
    burst: int | None = Field(
        None, ge=1, description="Requests allowed at once from a full bucket; defaults to the rate's count."
    )
    key: list[str] = Field(
        default_factory=lambda: ["client", "route"],
        description="Bucket key parts: client, consumer, route, global, or header:<name>.",
    )

    @field_validator("key")
    @classmethod
    def _valid_parts(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("the key is empty; use [global] for one bucket shared by every caller")
        parts = []
        for part in value:
            name = part.strip().lower()
            if name.startswith("header:") and name[7:].strip():
                parts.append("header:" + name[7:].strip())
            elif name in _KEY_PARTS:
                parts.append(name)
            else:
                raise ValueError(
                    f"invalid key part {part!r}; expected client, consumer, route, global or header:<name>"
                )
        return parts


class RateLimitConfig(StageConfig):
    """GCRA limits on the resolved client address, route and headers (before authentication)."""

    limits: list[Limit] = Field(
        min_length=1, description="Every limit must allow a request; checked in order.",
    )
    ipv4_prefix: int = Field(32, ge=1, le=32, description="IPv4 clients are grouped by this prefix length.")
    ipv6_prefix: int = Field(
        64, ge=1, le=128, description="IPv6 clients are grouped by this prefix length, so rotating "
        "addresses inside one network share a bucket."
    )
    headers: bool = Field(True, description="Send RateLimit, RateLimit-Policy and Retry-After headers.")
    on_store_error: Literal["deny", "allow"] = Field(
        "deny", description="What to do with a request when the state back end fails (counted and logged)."
    )
    max_concurrent: int | None = Field(
        None, ge=1, description="In-flight requests allowed per client address in one gateway process."
    )
    exempt_clients: list[Network] = Field(default_factory=list, description="Clients no limit applies to.")

    @model_validator(mode="after")
    def _no_consumer_before_authn(self) -> RateLimitConfig:
        for index, limit in enumerate(self.limits):
            if "consumer" in limit.key:
                raise ValueError(
                    f"limits[{index}] keys on consumer, but rate_limit runs before authn; "
                    "put consumer limits under quota:"
                )
        return self


class QuotaConfig(RateLimitConfig):
    """Limits checked after ``authn``, so they can key on the consumer (verified subject or API key).

    An anonymous caller's ``consumer`` key part falls back to its client address.
    """

    @model_validator(mode="after")
    def _no_consumer_before_authn(self) -> QuotaConfig:
        return self
