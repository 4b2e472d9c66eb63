"""Shared state of the gateway: rate-limit buckets, sliding windows and client bans.

``open_state(policy.state)`` returns the back end named by the policy: ``memory`` (one
process, the default) or a ``redis://`` / ``rediss://`` / ``unix://`` URL shared by every worker
and gateway node.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from apiward.state.base import IPV6_BAN_PREFIX, Ban, RateDecision, StateError, StateStore
from apiward.state.memory import MemoryState

if TYPE_CHECKING:
    from apiward.policy.model import Policy

__all__ = [
    "IPV6_BAN_PREFIX", "Ban", "MemoryState", "RateDecision", "StateError", "StateStore",
    "check_workers", "open_state", "stateful_stages",
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


def check_workers(policy: Policy, workers: int) -> None:
    """Raise ValueError when ``workers`` processes would each keep their own ``memory`` counters.

    Per-worker rate limits and bans would let ``workers`` times the configured rate through, so
    the gateway refuses that combination instead of enforcing a limit the policy does not state.
    A policy without rate_limit, quota, bans or an authz enumeration signal runs on any count.
    """
    if workers <= 1 or policy.state != "memory":
        return
    stateful = stateful_stages(policy)
    if stateful:
        raise ValueError(
            f"state 'memory' keeps {', '.join(stateful)} counters per process, so {workers} workers "
            "would each allow the full limit; set state: to a redis:// URL or run one worker"
        )


def stateful_stages(policy: Policy) -> list[str]:
    """Return the stages of ``policy`` that keep counters in the state back end."""
    found = []
    for route in policy.routes:
        for name in ("rate_limit", "quota", "bans", "authz"):
            config = policy.stage_config(route, name)
            if config is None or (name == "authz" and getattr(config, "enumeration", None) is None):
                continue
            if name not in found:
                found.append(name)
    return found
