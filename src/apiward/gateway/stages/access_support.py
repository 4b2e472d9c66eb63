"""Helpers shared by the access-control stages: client keys, the state back end, background tasks."""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import logging
from collections.abc import Coroutine
from typing import Any

from apiward.gateway.pipeline import Exchange, StageContext
from apiward.state import MemoryState, StateStore, open_state

log = logging.getLogger("apiward.gateway.access")

_tasks: set[asyncio.Task[Any]] = set()


def client_key(exchange: Exchange, ipv4_prefix: int, ipv6_prefix: int) -> str:
    """Return the resolved client address grouped by prefix, e.g. ``2001:db8:1:2::/64``.

    Grouping an IPv6 client by its /64 keeps a client that rotates addresses inside the
    network it was delegated in one bucket. IPv4-mapped IPv6 addresses count as IPv4.
    """
    text = exchange.client_ip
    if ipv4_prefix == 32 and ":" not in text:
        # The resolved address is already in canonical form, so an IPv4 /32 needs no parsing.
        return text
    address = exchange.client
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if isinstance(address, ipaddress.IPv4Address):
        if ipv4_prefix == 32:
            return str(address)
        return str(ipaddress.IPv4Network((address, ipv4_prefix), strict=False))
    if ipv6_prefix == 128:
        return str(address)
    return str(ipaddress.IPv6Network((address, ipv6_prefix), strict=False))


def short_value(value: str) -> str:
    """Return ``value`` itself when short, else a digest, so client-chosen values bound key size."""
    if len(value) <= 64:
        return value
    return "sha256:" + hashlib.sha256(value.encode("utf-8", "surrogateescape")).hexdigest()


_memory_stores: dict[str, MemoryState] = {}


def state_for(context: StageContext) -> StateStore:
    """Return the policy's shared state back end, creating it once per compiled policy.

    A ``memory`` store outlives reloads: it is kept per policy directory in this process, so a
    reload does not reset rate limits and bans. A Redis client is made per compiled policy,
    because its connections belong to the event loop that compiled it.
    """
    if context.state is not None:
        given: StateStore = context.state
        return given
    existing: StateStore | None = context.services.get("state")
    if existing is None:
        url = getattr(context.policy, "state", "memory")
        if url == "memory":
            existing = _memory_stores.setdefault(str(context.policy_dir), MemoryState())
        else:
            existing = open_state(url)
        context.services["state"] = existing
    return existing


async def release_state(services: dict[str, Any]) -> None:
    """Close a shared back end that :func:`state_for` opened for a compiled policy being retired.

    Every stage that uses the state calls this from ``close``; the first call closes it and the
    others find nothing left. Memory stores stay, so the next policy keeps the counters.
    """
    store = services.pop("state", None)
    if store is not None and not isinstance(store, MemoryState):
        try:
            await store.close()
        except Exception as error:  # noqa: BLE001 - closing must not stop the other stages closing
            log.error("closing the state back end failed: %s", error)


def spawn(coroutine: Coroutine[Any, Any, Any], what: str) -> None:
    """Run ``coroutine`` in the background, keeping a reference until it ends and logging its failure."""
    task = asyncio.get_running_loop().create_task(coroutine, name=what)
    _tasks.add(task)
    task.add_done_callback(_finished)


def _finished(task: asyncio.Task[Any]) -> None:
    _tasks.discard(task)
    if not task.cancelled() and task.exception() is not None:
        log.error("background task %s failed: %s", task.get_name(), task.exception())


async def drain_background() -> None:
    """Wait for the background tasks started so far (used by tests and on shutdown)."""
    while _tasks:
        await asyncio.gather(*list(_tasks), return_exceptions=True)
