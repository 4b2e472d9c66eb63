"""The ``bans`` stage: stop banned clients first, and ban clients that collect denials.

``request_head`` runs before every other stage and denies a banned client with 403.
``log`` runs after every exchange. When another stage denied the request with a 4xx verdict,
it adds the request to the client's sliding window of denials in the shared state. Once the
window contains ``threshold`` denials, it bans the client. Operators list and lift bans with
``apiward bans``.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any, ClassVar

from apiward.gateway.pipeline import Exchange, Stage, StageContext, Verdict
from apiward.gateway.stages.access_support import client_key, release_state, spawn, state_for
from apiward.policy.stages.bans import BansConfig
from apiward.state import IPV6_BAN_PREFIX, Ban, MemoryState, StateStore

log = logging.getLogger("apiward.security.bans")

class BansStage(Stage):
    """Common part of the memory and shared variants."""

    name: ClassVar[str] = "bans"

    def __init__(self, config: BansConfig, store: StateStore, services: dict[str, Any]) -> None:
        self.store = store
        self.services = services
        self.threshold = config.threshold
        self.window = config.window
        self.duration = config.duration
        # A path is exempt when it equals an entry or lies below it, so /health exempts
        # /health and /health/live but not /healthcheck-admin.
        self.exempt_paths = frozenset(path.rstrip("/") or "/" for path in config.exempt_paths)
        self.exempt_prefixes = tuple(path.rstrip("/") + "/" for path in config.exempt_paths)
        self.exempt_clients = tuple(config.exempt_clients)
        self.check_cache = config.check_cache
        self.deny_on_store_error = config.on_store_error == "deny"
        self.not_banned_until: dict[str, float] = {}
        self.store_errors = 0

    async def close(self) -> None:
        await release_state(self.services)

    def _exempt(self, exchange: Exchange) -> bool:
        if self.exempt_paths and (
            exchange.path in self.exempt_paths or exchange.path.startswith(self.exempt_prefixes)
        ):
            return True
        return bool(self.exempt_clients) and any(exchange.client in net for net in self.exempt_clients)

    def _counts(self, exchange: Exchange) -> bool:
        verdict = exchange.verdict
        return (
            verdict is not None and verdict.stage != self.name and 400 <= verdict.status < 500
            and not self._exempt(exchange)
        )

    def _denial_window(self, client: str) -> str:
        return "denials:" + client

    def _ban_reason(self, client: str, count: int) -> str | None:
        """Return why ``client`` is banned now (and log it), or None while under the threshold."""
        if count < self.threshold:
            return None
        reason = f"{count} denials within {self.window:g}s"
        log.warning("banning client %s for %gs: %s", client, self.duration, reason)
        return reason


def _banned_verdict(ban: Ban) -> Verdict:
    retry_after = max(1, math.ceil(ban.until - time.time()))
    return Verdict(
        403, "client_banned", "Access is temporarily blocked.",
        headers=[("retry-after", str(retry_after))], details={"until": ban.until, "reason": ban.reason},
    )


class MemoryBansStage(BansStage):
    """Bans in this process: synchronous check and count."""

    def __init__(self, config: BansConfig, store: MemoryState, services: dict[str, Any]) -> None:
        super().__init__(config, store, services)
        self.memory = store

    def request_head(self, exchange: Exchange) -> Verdict | None:
        if self._exempt(exchange):
            return None
        ban = self.memory.banned_now(client_key(exchange, 32, IPV6_BAN_PREFIX))
        return None if ban is None else _banned_verdict(ban)

    def log(self, exchange: Exchange) -> None:
        if not self._counts(exchange):
            return
        client = client_key(exchange, 32, IPV6_BAN_PREFIX)
        count = self.memory.window_add_now(
            self._denial_window(client), exchange.request_id, self.window, self.threshold,
        )
        reason = self._ban_reason(client, count)
        if reason is not None:
            self.memory.ban_now(client, self.duration, reason)


class SharedBansStage(BansStage):
    """Bans in a shared back end: awaited check, counting in a background task."""

    async def request_head(self, exchange: Exchange) -> Verdict | None:
        if self._exempt(exchange):
            return None
        client = client_key(exchange, 32, IPV6_BAN_PREFIX)
        if self.check_cache and self.not_banned_until.get(client, 0.0) > time.monotonic():
            return None
        try:
            ban = await self.store.banned(client)
        except Exception as error:  # noqa: BLE001 - on_store_error decides; the default denies
            self._store_failed(error)
            if not self.deny_on_store_error:
                return None
            return Verdict(503, "ban_check_unavailable", "The request could not be checked; retry later.")
        if ban is not None:
            return _banned_verdict(ban)
        if self.check_cache:
            if len(self.not_banned_until) > 100_000:
                self.not_banned_until.clear()
            self.not_banned_until[client] = time.monotonic() + self.check_cache
        return None

    def log(self, exchange: Exchange) -> None:
        if self._counts(exchange):
            client = client_key(exchange, 32, IPV6_BAN_PREFIX)
            spawn(self._count(client, exchange.request_id), "bans.count")

    async def _count(self, client: str, request_id: str) -> None:
        try:
            window = self._denial_window(client)
            count = await self.store.window_add(window, request_id, self.window, self.threshold)
            reason = self._ban_reason(client, count)
            if reason is not None:
                await self.store.ban(client, self.duration, reason)
                self.not_banned_until.pop(client, None)
        except Exception as error:  # noqa: BLE001 - counting is best effort; the failure is logged
            self._store_failed(error)

    def _store_failed(self, error: Exception) -> None:
        self.store_errors += 1
        if self.store_errors == 1 or self.store_errors % 1000 == 0:
            log.error("bans: state back end failed (%d failures so far): %s", self.store_errors, error)


def build(config: Any, context: StageContext) -> Stage:
    store = state_for(context)
    if isinstance(store, MemoryState):
        return MemoryBansStage(config, store, context.services)
    return SharedBansStage(config, store, context.services)
