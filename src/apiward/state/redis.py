"""The ``redis`` state back end: counters shared by every worker and gateway node.

Each check-and-update is one Lua script, so it is atomic on the server. Scripts read the
server clock (``TIME``), so nodes with skewed clocks agree. Every key carries a hash tag
(``apiward:{rl:...}``) naming one bucket, so each script touches one slot and Redis Cluster
can spread the buckets.

The URL is a redis-py URL; ``key_prefix`` in its query (default ``apiward:``) is taken out and
put in front of every key, so several gateways or tests can share one server.

NOTE: the keys are ready for Redis Cluster, but the client is a single-node ``redis.asyncio.Redis``
and has only been run against one server; a cluster needs ``RedisCluster`` here.
"""

from __future__ import annotations

import time
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from apiward.state.base import Ban, RateDecision, StateError, StateStore

_GCRA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tolerance = interval * tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval
local allow_at = new_tat - tolerance
if now < allow_at then
  return {0, 0, allow_at - now, tat - now}
end
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', math.ceil((new_tat - now) / 1000))
return {1, math.floor((now - allow_at) / interval), 0, new_tat - now}
"""

_WINDOW_ADD = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%.0f', now - window))
redis.call('ZADD', KEYS[1], string.format('%.0f', now), ARGV[1])
local cap = tonumber(ARGV[3])
local count = redis.call('ZCARD', KEYS[1])
if count > cap then
  redis.call('ZREMRANGEBYRANK', KEYS[1], 0, count - cap - 1)
  count = cap
end
redis.call('PEXPIRE', KEYS[1], math.ceil(window / 1000))
return count
"""

_MICRO = 1_000_000


def split_key_prefix(url: str) -> tuple[str, str]:
    """Take ``key_prefix`` out of a redis URL's query; return (url without it, prefix)."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    prefix = "apiward:"
    kept = []
    for name, value in query:
        if name == "key_prefix":
            prefix = value
        else:
            kept.append((name, value))
    return urlunsplit(parts._replace(query=urlencode(kept))), prefix


class RedisState(StateStore):
    """Counters and bans in Redis, shared by every process that uses the same URL and prefix."""

    shared = True

    def __init__(self, url: str, *, timeout: float = 1.0, max_connections: int = 64) -> None:
        plain_url, self.prefix = split_key_prefix(url)
        # A blocking pool makes a burst wait for a free connection (up to the timeout)
        # instead of failing with "Too many connections".
        pool = aioredis.BlockingConnectionPool.from_url(
            plain_url, max_connections=max_connections, timeout=timeout,
            socket_timeout=timeout, socket_connect_timeout=timeout,
        )
        self.client: aioredis.Redis = aioredis.Redis(connection_pool=pool)
        self._gcra = self.client.register_script(_GCRA)
        self._window_add = self.client.register_script(_WINDOW_ADD)

    def _key(self, kind: str, name: str) -> str:
        return f"{self.prefix}{{{kind}:{name}}}"

    async def rate_check(self, key: str, interval: float, burst: int) -> RateDecision:
        try:
            allowed, remaining, retry_us, reset_us = await self._gcra(
                keys=[self._key("rl", key)], args=[max(1, round(interval * _MICRO)), burst],
            )
        except RedisError as error:
            raise StateError(f"rate check on redis failed: {error}") from error
        return RateDecision(bool(allowed), int(remaining), retry_us / _MICRO, reset_us / _MICRO)

    async def window_add(self, key: str, member: str, window: float, cap: int) -> int:
        try:
            count = await self._window_add(
                keys=[self._key("win", key)], args=[member, max(1, round(window * _MICRO)), cap],
            )
        except RedisError as error:
            raise StateError(f"window update on redis failed: {error}") from error
        return int(count)

    async def ban(self, client: str, duration: float, reason: str) -> Ban:
        until = time.time() + duration
        try:
            await self.client.set(
                self._key("ban", client), f"{until:.3f} {reason}", px=max(1, round(duration * 1000)),
            )
        except RedisError as error:
            raise StateError(f"storing the ban on {client} failed: {error}") from error
        return Ban(client, until, reason)

    async def unban(self, client: str) -> bool:
        try:
            return bool(await self.client.delete(self._key("ban", client)))
        except RedisError as error:
            raise StateError(f"removing the ban on {client} failed: {error}") from error

    async def banned(self, client: str) -> Ban | None:
        try:
            value = await self.client.get(self._key("ban", client))
        except RedisError as error:
            raise StateError(f"reading the ban on {client} failed: {error}") from error
        return None if value is None else _parse_ban(client, value)

    async def list_bans(self) -> list[Ban]:
        start = self._key("ban", "")[:-1]
        bans = []
        try:
            async for key in self.client.scan_iter(match=_glob_escape(start) + "*}", count=500):
                value = await self.client.get(key)
                if value is not None:
                    bans.append(_parse_ban(key.decode()[len(start):-1], value))
        except RedisError as error:
            raise StateError(f"listing bans on redis failed: {error}") from error
        return sorted(bans, key=lambda ban: ban.until)

    async def close(self) -> None:
        await self.client.aclose()
        await self.client.connection_pool.disconnect()


def _parse_ban(client: str, value: bytes | str) -> Ban:
    text = value.decode() if isinstance(value, bytes) else value
    until, _, reason = text.partition(" ")
    return Ban(client, float(until), reason)


def _glob_escape(text: str) -> str:
    return "".join(f"\\{char}" if char in "*?[]\\" else char for char in text)
