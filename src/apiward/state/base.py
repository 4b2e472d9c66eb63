"""The state interface shared by gateway nodes: rate buckets, sliding windows and bans.

Every operation is one atomic check-and-update, so concurrent workers and gateway processes
sharing one back end never let more requests through than a limit allows. Times given to the
interface are in seconds. A back end reads its own clock: Redis uses the server's ``TIME``, so
gateway nodes with skewed clocks still agree.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass

IPV6_BAN_PREFIX = 64
"""IPv6 clients are banned by /64, so rotating addresses inside one network does not escape."""


class StateError(Exception):
    """The state back end failed (connection lost, timeout, script error)."""


class RateDecision:
    """The outcome of one GCRA check on one bucket.

    A class, not a NamedTuple, because a NamedTuple's constructor runs as interpreted Python even
    when this module is compiled, and a rate check creates one per request.
    """

    __slots__ = ("allowed", "remaining", "reset", "retry_after")

    def __init__(self, allowed: bool, remaining: int, retry_after: float, reset: float) -> None:
        self.allowed = allowed
        self.remaining = remaining
        """Requests still allowed right now, after this one."""
        self.retry_after = retry_after
        """Seconds until the next request would be allowed; 0 when this one was."""
        self.reset = reset
        """Seconds until the bucket is full again."""

    def __repr__(self) -> str:
        return (f"RateDecision(allowed={self.allowed}, remaining={self.remaining}, "
                f"retry_after={self.retry_after}, reset={self.reset})")


@dataclass(frozen=True, slots=True)
class Ban:
    """A client banned until ``until`` (Unix time, seconds)."""

    client: str
    until: float
    reason: str


class StateStore(abc.ABC):
    """Counters and bans behind one interface; ``memory`` and ``redis`` implement it."""

    shared: bool = False
    """True when several processes see the same counters (Redis); False for per-process memory."""

    @abc.abstractmethod
    async def rate_check(self, key: str, interval: float, burst: int) -> RateDecision:
        """Take one request from the GCRA bucket ``key`` if it allows one.

        ``interval`` is the seconds between two requests at the sustained rate and ``burst``
        the number of requests allowed at once from a full bucket.
        """

    @abc.abstractmethod
    async def window_add(self, key: str, member: str, window: float, cap: int) -> int:
        """Add ``member`` to the sliding window ``key`` and return how many distinct members it has.

        Members older than ``window`` seconds are dropped; at most ``cap`` recent ones are kept.
        """

    @abc.abstractmethod
    async def ban(self, client: str, duration: float, reason: str) -> Ban:
        """Ban ``client`` for ``duration`` seconds (replacing an existing ban)."""

    @abc.abstractmethod
    async def unban(self, client: str) -> bool:
        """Lift the ban on ``client``; return False when it was not banned."""

    @abc.abstractmethod
    async def banned(self, client: str) -> Ban | None:
        """Return the ban in force on ``client``, or None."""

    @abc.abstractmethod
    async def list_bans(self) -> list[Ban]:
        """Return every ban in force, soonest expiry first."""

    async def close(self) -> None:  # noqa: B027 - optional hook; memory has nothing to release
        """Release connections."""
