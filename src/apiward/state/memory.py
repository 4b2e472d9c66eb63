"""The ``memory`` state back end: one process, no I/O.

Every method also exists in a synchronous form (``*_now``), which the stages call directly so
that the hot path pays no coroutine when the state lives in the process. The counters are
not shared between worker processes.
"""

from __future__ import annotations

import math
import time
from time import monotonic_ns
from typing import Final

from apiward.state.base import Ban, RateDecision, StateStore

_NANO: Final = 1_000_000_000
_SWEEP_FIRST = 10_000
"""Bucket count that triggers the first sweep of expired buckets; it doubles when a sweep frees little."""


class _Bucket:
    """The theoretical arrival time (TAT) of one GCRA bucket, in monotonic nanoseconds.

    A mutable cell, so that an allowed request updates it in place instead of storing a new int
    in the dictionary.
    """

    __slots__ = ("tat",)

    def __init__(self, tat: int) -> None:
        self.tat = tat


class MemoryState(StateStore):
    """Counters and bans in dictionaries of this process."""

    shared = False

    def __init__(self) -> None:
        self._buckets: dict[str, _Bucket] = {}
        self._sweep_at = _SWEEP_FIRST
        self._windows: dict[str, dict[str, float]] = {}
        self._bans: dict[str, Ban] = {}

    def rate_check_now(self, key: str, interval: float, burst: int) -> RateDecision:
        """Synchronous form of :meth:`rate_check`."""
        # Integer nanoseconds keep "exactly burst requests" exact; floats drift by one ulp.
        now = monotonic_ns()
        # Rounds to the nearest nanosecond (halves up) in native code, where round() would be a
        # call to the builtin on every request.
        step = max(1, math.floor(interval * _NANO + 0.5))
        bucket = self._buckets.get(key)
        tat = now if bucket is None or bucket.tat < now else bucket.tat
        new_tat = tat + step
        allow_at = new_tat - step * burst
        if now < allow_at:
            return RateDecision(False, 0, (allow_at - now) / _NANO, (tat - now) / _NANO)
        if bucket is not None:
            bucket.tat = new_tat
        else:
            self._buckets[key] = _Bucket(new_tat)
            if len(self._buckets) >= self._sweep_at:
                self._sweep(now)
        return RateDecision(True, (now - allow_at) // step, 0.0, (new_tat - now) / _NANO)

    def _sweep(self, now: int) -> None:
        self._buckets = {key: bucket for key, bucket in self._buckets.items() if bucket.tat > now}
        self._sweep_at = max(_SWEEP_FIRST, 2 * len(self._buckets))

    async def rate_check(self, key: str, interval: float, burst: int) -> RateDecision:
        return self.rate_check_now(key, interval, burst)

    def window_add_now(self, key: str, member: str, window: float, cap: int) -> int:
        """Synchronous form of :meth:`window_add`."""
        now = time.monotonic()
        members = self._windows.setdefault(key, {})
        members.pop(member, None)
        members[member] = now
        horizon = now - window
        # Insertion order is time order, so expired members sit at the front.
        while members:
            oldest, seen = next(iter(members.items()))
            if seen > horizon and len(members) <= cap:
                break
            del members[oldest]
        if len(self._windows) >= self._sweep_at:
            self._windows = {k: m for k, m in self._windows.items() if m and max(m.values()) > horizon}
        return len(members)

    async def window_add(self, key: str, member: str, window: float, cap: int) -> int:
        return self.window_add_now(key, member, window, cap)

    def ban_now(self, client: str, duration: float, reason: str) -> Ban:
        ban = Ban(client, time.time() + duration, reason)
        self._bans[client] = ban
        return ban

    async def ban(self, client: str, duration: float, reason: str) -> Ban:
        return self.ban_now(client, duration, reason)

    async def unban(self, client: str) -> bool:
        return self._bans.pop(client, None) is not None

    def banned_now(self, client: str) -> Ban | None:
        """Synchronous form of :meth:`banned`."""
        ban = self._bans.get(client)
        if ban is None:
            return None
        if ban.until <= time.time():
            del self._bans[client]
            return None
        return ban

    async def banned(self, client: str) -> Ban | None:
        return self.banned_now(client)

    async def list_bans(self) -> list[Ban]:
        now = time.time()
        return sorted((ban for ban in self._bans.values() if ban.until > now), key=lambda ban: ban.until)
