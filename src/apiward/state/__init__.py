"""Shared state of the gateway: rate-limit buckets, sliding windows and client bans.

``open_state(policy.state)`` returns the back end named by the policy: ``memory`` (one
process, the default) or a ``redis://`` / ``rediss://`` / ``unix://`` URL shared by every worker
and gateway node.
"""

from __future__ import annotations

from apiward.state.base import IPV6_BAN_PREFIX, Ban, RateDecision, StateError, StateStore
from apiward.state.memory import MemoryState

__all__ = [
    "IPV6_BAN_PREFIX", "Ban", "MemoryState", "RateDecision", "StateError", "StateStore",
    "check_workers", "open_state",
]

_REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


def open_state(url: str) -> StateStore:
    """Create the state back end that ``url`` names; raise ValueError on an unknown scheme."""
    if url == "memory":
        return MemoryState()
    if url.startswith(_REDIS_SCHEMES):
        from apiward.state.redis import RedisState

        return RedisState(url)
    raise ValueError(f"invalid state {url!r}; expected 'memory' or a redis:// URL")


def check_workers(url: str, workers: int) -> None:
    """Raise ValueError when ``workers`` processes would each keep their own ``memory`` counters.

    Per-worker limits would let ``workers`` times the configured rate through, so the gateway
    refuses that combination instead of applying a limit the policy does not state.
    """
    if workers > 1 and url == "memory":
        raise ValueError(
            f"state 'memory' keeps rate limits and bans per process, so {workers} workers would "
            "each allow the full limit; set state to a redis:// URL or run one worker"
        )
