"""Compile a :class:`~apiward.policy.model.Policy` into what the data plane runs.

Compiling builds every stage, binds its hooks, creates one connection pool per upstream and
the route table, so nothing on the hot path looks at the policy model again. A reload
compiles the new policy completely before the gateway swaps one reference to it. Exchanges
in flight keep the compiled policy they started with, and its stages and pools are closed
once the last of them ends.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from apiward.events.sink import EventSink
from apiward.gateway.forwarding import Forwarding
from apiward.gateway.paths import RouteTable
from apiward.gateway.pipeline import BoundHook, Stage, StageContext, bind_hooks
from apiward.gateway.stages import build_stage
from apiward.gateway.upstream import UpstreamPool
from apiward.observability.logs import JsonLineWriter
from apiward.observability.metrics import GatewayMetrics
from apiward.policy.model import STAGE_NAMES, Limits, Policy, Route

log = logging.getLogger("apiward.gateway.compile")

ROUTE_MEMO_MAX_ENTRIES = 1024


def _any_async(hooks: tuple[BoundHook, ...]) -> bool:
    return any(hook.is_async for hook in hooks)


class DataPlaneLimits:
    """The policy's ``limits`` as plain attributes, read on every request.

    Reading a field of the pydantic model costs a dictionary lookup; a compiled class reads it
    from a fixed slot.
    """

    def __init__(self, limits: Limits) -> None:
        self.max_header_count: int = limits.max_header_count
        self.max_header_bytes: int = int(limits.max_header_bytes)
        self.max_body_bytes: int = int(limits.max_body_bytes)
        self.header_timeout: float = float(limits.header_timeout)
        self.body_timeout: float = float(limits.body_timeout)
        self.idle_timeout: float = float(limits.idle_timeout)
        self.max_connections: int = limits.max_connections
        self.max_connections_per_client: int | None = limits.max_connections_per_client
        """None when one client address may open any number of connections."""
        self.max_pipelined: int = limits.max_pipelined


class CompiledRoute:
    """One route as the data plane uses it: its pool, stages and bound hooks."""

    def __init__(self, route: Route, pool: UpstreamPool, stages: list[Stage]) -> None:
        self.name = route.name
        self.route = route
        self.pool = pool
        self.read_timeout = pool.config.read_timeout
        self.allow_encoded_slashes = route.allow_encoded_slashes
        self.stages = tuple(stages)
        self.request_head = bind_hooks(stages, "request_head")
        self.request_head_async = _any_async(self.request_head)
        self.request_body = bind_hooks(stages, "request_body")
        self.request_body_async = _any_async(self.request_body)
        self.response_head = bind_hooks(stages, "response_head", reverse=True)
        self.response_head_async = _any_async(self.response_head)
        self.response_body = bind_hooks(stages, "response_body", reverse=True)
        self.response_body_async = _any_async(self.response_body)
        self.log_hooks = bind_hooks(stages, "log")
        self.body_stages = tuple(hook.stage for hook in self.request_body)
        self.response_body_stages = tuple(hook.stage for hook in self.response_body)

    def stages_up_to(self, stage_name: str) -> set[Stage]:
        """Return the stages whose request hooks ran before and including ``stage_name``."""
        ran: set[Stage] = set()
        for stage in self.stages:
            ran.add(stage)
            if stage.name == stage_name:
                break
        return ran


class CompiledPolicy:
    """A policy ready to serve: route table, pools, forwarding rules, log writers."""

    def __init__(self, policy: Policy, policy_dir: Path, state: Any = None) -> None:
        self.policy = policy
        self.limits = DataPlaneLimits(policy.limits)
        self.inflight = 0
        self.retired = False
        self.pools = {name: UpstreamPool(name, config) for name, config in policy.upstreams.items()}
        services: dict[str, Any] = {}
        entries: list[tuple[Any, bool, CompiledRoute]] = []
        self.all_stages: list[Stage] = []
        for route in policy.routes:
            context = StageContext(policy=policy, route=route, policy_dir=policy_dir, state=state,
                                   services=services)
            stages = [
                build_stage(name, config, context)
                for name in STAGE_NAMES
                if (config := policy.stage_config(route, name)) is not None
            ]
            self.all_stages.extend(stages)
            compiled = CompiledRoute(route, self.pools[route.upstream], stages)
            entries.append((route.match, route.allow_encoded_slashes, compiled))
        self.routes = RouteTable(entries)
        self.unrouted_headers: Stage | None = None
        """The ``defaults.headers`` stage, for the gateway's responses to requests no route took."""
        defaults_headers = policy.defaults.headers
        if defaults_headers is not None and defaults_headers.enabled:
            context = StageContext(policy=policy, route=None, policy_dir=policy_dir, state=state,
                                   services=services)
            self.unrouted_headers = build_stage("headers", defaults_headers, context)
        self._route_memo: dict[tuple[str, str], tuple[CompiledRoute, dict[str, str]] | None] = {}
        self.forwarding = Forwarding(policy.trusted_proxies)
        self.access_log = JsonLineWriter(policy.logging.access_log)
        self.access_enabled = policy.logging.access_log != "off"
        self.security_log = JsonLineWriter(policy.logging.security_log)
        self.events = EventSink(self.security_log)

    def match_route(self, method: str, path: str) -> tuple[CompiledRoute, dict[str, str]] | None:
        """Match a normalised path through a bounded memo (a PathError is raised, never cached).

        The returned parameter dict is shared with the memo, so callers copy it before changing it.
        """
        key = (method, path)
        try:
            return self._route_memo[key]
        except KeyError:
            pass
        found: tuple[CompiledRoute, dict[str, str]] | None = self.routes.match(method, path)
        if len(self._route_memo) >= ROUTE_MEMO_MAX_ENTRIES:
            self._route_memo.clear()
        self._route_memo[key] = found
        return found

    async def start(self) -> None:
        for pool in self.pools.values():
            await pool.start()
        for stage in self.all_stages:
            await stage.start()

    async def close(self) -> None:
        """Close stages, pools and writers once no exchange uses this policy any more."""
        for stage in self.all_stages:
            try:
                await stage.close()
            except Exception:  # one failing stage must not keep the others open
                log.exception("stage %s failed to close", stage.name)
        for pool in self.pools.values():
            await pool.close()
        for writer in (self.access_log, self.security_log):
            writer.close()

    def flush_logs(self) -> None:
        self.access_log.flush()
        self.security_log.flush()


def new_metrics() -> GatewayMetrics:
    return GatewayMetrics()


def compile_policy(policy: Policy, policy_path: Path, state: Any = None) -> CompiledPolicy:
    """Build stages, pools and the route table for ``policy`` (raises on an invalid stage set-up)."""
    return CompiledPolicy(policy, policy_path.parent, state)
