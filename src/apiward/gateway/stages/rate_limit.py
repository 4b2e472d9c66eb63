"""The ``rate_limit`` stage: GCRA limits on the resolved client, route, headers and consumer.

Each limit is a GCRA bucket in the shared state back end. Limits are checked in the order the
policy lists them, each check atomic on its own. Checking stops at the first limit that denies,
so list the short limits first (``10/s`` before ``1000/day``): a request denied by the short
limit then does not use up the long quota.

With the ``memory`` back end the checks run synchronously (no coroutine on the hot path); with
Redis each limit costs one round trip.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from apiward.gateway.pipeline import Exchange, Stage, StageContext, Verdict
from apiward.gateway.stages.access_support import client_key, release_state, short_value, state_for
from apiward.policy.stages.rate_limit import Limit, RateLimitConfig
from apiward.state import MemoryState, RateDecision, StateStore

log = logging.getLogger("apiward.gateway.rate_limit")

KeyPart = Callable[[Exchange], str]


@dataclass(frozen=True, slots=True)
class CompiledLimit:
    """A limit with its bucket-key builder and its RateLimit-Policy item."""

    name: str
    interval: float
    burst: int
    parts: tuple[KeyPart, ...]
    policy_item: str


class RateLimitStage(Stage):
    """Deny with 429 once a bucket is empty; add RateLimit headers to every response."""

    name: ClassVar[str] = "rate_limit"

    def __init__(self, config: RateLimitConfig, context: StageContext) -> None:
        self.store: StateStore = state_for(context)
        self.services = context.services
        route_name = str(getattr(context.route, "name", ""))
        self.limits = tuple(
            _compile_limit(limit, index, config, route_name, self.name)
            for index, limit in enumerate(config.limits)
        )
        self.policy_header = ", ".join(limit.policy_item for limit in self.limits)
        self.send_headers = config.headers
        self.deny_on_store_error = config.on_store_error == "deny"
        self.exempt = tuple(config.exempt_clients)
        self.max_concurrent = config.max_concurrent
        self.in_flight: dict[str, int] = {}
        self.ipv4_prefix = config.ipv4_prefix
        self.ipv6_prefix = config.ipv6_prefix
        self.store_errors = 0

    async def close(self) -> None:
        await release_state(self.services)

    def _exempt(self, exchange: Exchange) -> bool:
        return bool(self.exempt) and any(exchange.client in network for network in self.exempt)

    def _finish(
        self, exchange: Exchange, decisions: list[tuple[CompiledLimit, RateDecision]],
    ) -> Verdict | None:
        if len(decisions) == 1 or not decisions[-1][1].allowed:
            # Checking stops at the first denial, so a denying limit is the last one checked. It
            # decides even when an earlier limit has just reached zero remaining.
            limit, decision = decisions[-1]
        else:
            limit, decision = min(decisions, key=lambda item: item[1].remaining)
        denied = not decision.allowed
        if self.send_headers:
            headers = [
                ("ratelimit-policy", self.policy_header),
                ("ratelimit", f'"{limit.name}";r={decision.remaining};t={math.ceil(decision.reset)}'),
            ]
            if denied:
                headers.append(("retry-after", str(max(1, math.ceil(decision.retry_after)))))
                return _too_many(limit, headers)
            exchange.extra_response_headers.extend(headers)
        elif denied:
            return _too_many(limit, [])
        return self._enter(exchange)

    def _enter(self, exchange: Exchange) -> Verdict | None:
        """Count the request as in flight for its client, or deny it over ``max_concurrent``."""
        if self.max_concurrent is None:
            return None
        client = client_key(exchange, self.ipv4_prefix, self.ipv6_prefix)
        count = self.in_flight.get(client, 0)
        if count >= self.max_concurrent:
            return Verdict(
                429, "too_many_concurrent_requests", "Too many requests in progress; retry later.",
                category="API4:2023", details={"limit": self.max_concurrent},
            )
        self.in_flight[client] = count + 1
        exchange.stage_data[self.name + ".client"] = client
        return None

    def log(self, exchange: Exchange) -> None:
        client = exchange.stage_data.pop(self.name + ".client", None)
        if client is None:
            return
        count = self.in_flight.get(client, 0) - 1
        if count > 0:
            self.in_flight[client] = count
        else:
            self.in_flight.pop(client, None)

    def _store_failed(self, error: Exception) -> Verdict | None:
        self.store_errors += 1
        if self.store_errors == 1 or self.store_errors % 1000 == 0:
            log.error(
                "%s: state back end failed (%d failures so far), requests are %s: %s",
                self.name, self.store_errors,
                "denied" if self.deny_on_store_error else "allowed", error,
            )
        if not self.deny_on_store_error:
            return None
        return Verdict(503, "rate_limit_unavailable", "The request could not be checked; retry later.")


class MemoryRateLimitStage(RateLimitStage):
    """The stage over in-process buckets: synchronous, no await on the hot path."""

    def __init__(self, config: RateLimitConfig, context: StageContext) -> None:
        super().__init__(config, context)
        if not isinstance(self.store, MemoryState):
            raise TypeError("MemoryRateLimitStage needs the memory state back end")
        self.check_now = self.store.rate_check_now

    def request_head(self, exchange: Exchange) -> Verdict | None:
        if self._exempt(exchange):
            return None
        check = self.check_now
        decisions = []
        for limit in self.limits:
            decision = check(_bucket(limit, exchange), limit.interval, limit.burst)
            decisions.append((limit, decision))
            if not decision.allowed:
                break
        return self._finish(exchange, decisions)


class SharedRateLimitStage(RateLimitStage):
    """The stage over a shared back end (Redis): one awaited script per limit."""

    async def request_head(self, exchange: Exchange) -> Verdict | None:
        if self._exempt(exchange):
            return None
        decisions = []
        try:
            for limit in self.limits:
                decision = await self.store.rate_check(_bucket(limit, exchange), limit.interval, limit.burst)
                decisions.append((limit, decision))
                if not decision.allowed:
                    break
        except Exception as error:  # noqa: BLE001 - on_store_error decides; the default denies
            return self._store_failed(error)
        return self._finish(exchange, decisions)


def _bucket(limit: CompiledLimit, exchange: Exchange) -> str:
    return limit.name + "|" + "|".join(part(exchange) for part in limit.parts)


def _too_many(limit: CompiledLimit, headers: list[tuple[str, str]]) -> Verdict:
    return Verdict(
        429, "rate_limited", "Too many requests; retry later.", headers=headers,
        category="API4:2023", details={"limit": limit.name},
    )


def _compile_limit(
    limit: Limit, index: int, config: RateLimitConfig, route_name: str, stage_name: str,
) -> CompiledLimit:
    count, period = limit.rate
    burst = limit.burst or count
    parts = tuple(_key_part(part, config, route_name) for part in limit.key)
    # Equal limits with equal keys share buckets across routes; "route" in the key separates them.
    identity = f"{stage_name}:{count}/{period}:{burst}:{','.join(limit.key)}"
    if "route" in limit.key:
        identity += ":" + route_name
    name = f"l{index}-" + hashlib.sha256(identity.encode()).hexdigest()[:10]
    return CompiledLimit(name, period / count, burst, parts, f'"{name}";q={count};w={math.ceil(period)}')


def _key_part(part: str, config: RateLimitConfig, route_name: str) -> KeyPart:
    ipv4, ipv6 = config.ipv4_prefix, config.ipv6_prefix
    if part == "client":
        return lambda exchange: client_key(exchange, ipv4, ipv6)
    if part == "route":
        return lambda exchange: route_name
    if part == "global":
        return lambda exchange: "*"
    if part == "consumer":
        return lambda exchange: _consumer(exchange, ipv4, ipv6)
    header = part.removeprefix("header:")
    return lambda exchange: "h=" + short_value(exchange.headers.get(header, "") or "")


def _consumer(exchange: Exchange, ipv4: int, ipv6: int) -> str:
    identity = exchange.identity
    if identity is None:
        return "anonymous@" + client_key(exchange, ipv4, ipv6)
    return "c=" + short_value(identity.consumer or identity.subject)


def build(config: Any, context: StageContext) -> Stage:
    return build_named(config, context, "rate_limit")


class MemoryQuotaStage(MemoryRateLimitStage):
    """The same stage under the policy key ``quota``, whose buckets stay apart from rate_limit's."""

    name: ClassVar[str] = "quota"


class SharedQuotaStage(SharedRateLimitStage):
    """The shared variant under the policy key ``quota``."""

    name: ClassVar[str] = "quota"


_VARIANTS: dict[tuple[str, bool], type[RateLimitStage]] = {
    ("rate_limit", True): MemoryRateLimitStage,
    ("rate_limit", False): SharedRateLimitStage,
    ("quota", True): MemoryQuotaStage,
    ("quota", False): SharedQuotaStage,
}


def build_named(config: RateLimitConfig, context: StageContext, stage_name: str) -> Stage:
    """Build the memory or shared variant of the stage under ``stage_name`` (rate_limit or quota)."""
    in_memory = isinstance(state_for(context), MemoryState)
    return _VARIANTS[stage_name, in_memory](config, context)
