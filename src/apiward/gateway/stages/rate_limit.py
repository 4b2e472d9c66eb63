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
from typing import Any, ClassVar

from apiward.gateway.pipeline import Exchange, Stage, StageContext, Verdict
from apiward.gateway.stages.access_support import client_key, release_state, state_for
from apiward.gateway.stages.bucket_keys import KeyPart, bucket_key, key_part
from apiward.policy.stages.rate_limit import Limit, RateLimitConfig
from apiward.state import MemoryState, RateDecision, StateStore

log = logging.getLogger("apiward.gateway.rate_limit")


class CompiledLimit:
    """A limit with its bucket-key builder and its RateLimit-Policy item."""

    def __init__(self, name: str, count: int, period: float, burst: int, parts: list[KeyPart]) -> None:
        self.name = name
        self.interval = period / count
        self.burst = burst
        self.key = bucket_key(name, parts)
        self.policy_item = f'"{name}";q={count};w={math.ceil(period)}'
        self.field_prefix = f'"{name}";r='
        # The last RateLimit field sent, reused while remaining and reset repeat, as they do
        # while traffic stays well under the limit and the bucket stays full.
        self.last_remaining = -1
        self.last_reset = -1
        self.last_field = ("ratelimit", "")

    def bucket(self, exchange: Exchange) -> str:
        """Return the bucket key ``name|part|part...`` of this request."""
        return self.key.value(exchange)

    def ratelimit_field(self, decision: RateDecision) -> tuple[str, str]:
        """Return the ``RateLimit`` header field that reports ``decision`` on this limit."""
        reset = math.ceil(decision.reset)
        if decision.remaining != self.last_remaining or reset != self.last_reset:
            self.last_field = ("ratelimit", f"{self.field_prefix}{decision.remaining};t={reset}")
            self.last_remaining = decision.remaining
            self.last_reset = reset
        return self.last_field


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
        self.later_limits = self.limits[1:]
        self.policy_field = ("ratelimit-policy", ", ".join(limit.policy_item for limit in self.limits))
        self.send_headers = config.headers
        self.deny_on_store_error = config.on_store_error == "deny"
        self.exempt = tuple(config.exempt_clients)
        self.max_concurrent = config.max_concurrent
        self.in_flight: dict[str, int] = {}
        self.in_flight_data_key = self.name + ".client"
        self.ipv4_prefix = config.ipv4_prefix
        self.ipv6_prefix = config.ipv6_prefix
        self.store_errors = 0

    async def close(self) -> None:
        await release_state(self.services)

    def _exempt(self, exchange: Exchange) -> bool:
        return bool(self.exempt) and any(exchange.client in network for network in self.exempt)

    def _finish(self, exchange: Exchange, limit: CompiledLimit, decision: RateDecision) -> Verdict | None:
        """Add the RateLimit headers of ``decision`` on ``limit``, or deny when it denies."""
        if decision.allowed:
            if self.send_headers:
                headers = exchange.extra_response_headers
                headers.append(self.policy_field)
                headers.append(limit.ratelimit_field(decision))
            return self._enter(exchange)
        if not self.send_headers:
            return _too_many(limit, [])
        retry_after = ("retry-after", str(max(1, math.ceil(decision.retry_after))))
        return _too_many(limit, [self.policy_field, limit.ratelimit_field(decision), retry_after])

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
        exchange.stage_data[self.in_flight_data_key] = client
        return None

    def log(self, exchange: Exchange) -> None:
        if self.max_concurrent is None:
            return
        client = exchange.stage_data.pop(self.in_flight_data_key, None)
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
        store = self.store
        if not isinstance(store, MemoryState):
            raise TypeError("MemoryRateLimitStage needs the memory state back end")
        self.memory = store

    def request_head(self, exchange: Exchange) -> Verdict | None:
        if self._exempt(exchange):
            return None
        memory = self.memory
        chosen = self.limits[0]
        tightest = memory.rate_check_now(chosen.bucket(exchange), chosen.interval, chosen.burst)
        for limit in self.later_limits:
            if not tightest.allowed:
                break
            decision = memory.rate_check_now(limit.bucket(exchange), limit.interval, limit.burst)
            if _tighter(tightest, decision):
                chosen, tightest = limit, decision
        return self._finish(exchange, chosen, tightest)


class SharedRateLimitStage(RateLimitStage):
    """The stage over a shared back end (Redis): one awaited script per limit."""

    async def request_head(self, exchange: Exchange) -> Verdict | None:
        if self._exempt(exchange):
            return None
        store = self.store
        chosen = self.limits[0]
        try:
            tightest = await store.rate_check(chosen.bucket(exchange), chosen.interval, chosen.burst)
            for limit in self.later_limits:
                if not tightest.allowed:
                    break
                decision = await store.rate_check(limit.bucket(exchange), limit.interval, limit.burst)
                if _tighter(tightest, decision):
                    chosen, tightest = limit, decision
        except Exception as error:  # noqa: BLE001 - on_store_error decides; the default denies
            return self._store_failed(error)
        return self._finish(exchange, chosen, tightest)


def _tighter(current: RateDecision, decision: RateDecision) -> bool:
    """Say whether ``decision`` rather than ``current`` goes in the headers.

    A denial always does: checking stops at the first denial, and it decides even when an
    earlier limit has just reached zero remaining. Otherwise the one with fewer remaining does,
    the earlier limit on a tie.
    """
    return not decision.allowed or decision.remaining < current.remaining


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
    parts = [key_part(part, route_name, config.ipv4_prefix, config.ipv6_prefix) for part in limit.key]
    # Equal limits with equal keys share buckets across routes; "route" in the key separates them.
    identity = f"{stage_name}:{count}/{period}:{burst}:{','.join(limit.key)}"
    if "route" in limit.key:
        identity += ":" + route_name
    name = f"l{index}-" + hashlib.sha256(identity.encode()).hexdigest()[:10]
    return CompiledLimit(name, count, period, burst, parts)


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
