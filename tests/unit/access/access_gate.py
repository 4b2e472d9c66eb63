"""A policy's access stages driven through the real pipeline hooks, without sockets."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from apiward.gateway.pipeline import Exchange, Headers, Stage, StageContext, bind_hooks, run_hooks
from apiward.gateway.stages import build_stage
from apiward.gateway.stages.access_support import drain_background
from apiward.policy.loader import parse_policy
from apiward.policy.model import STAGE_NAMES
from apiward.state import StateStore

REDIS_URL = "redis://127.0.0.1:6379/0"


def redis_url() -> str:
    """Return a Redis state URL whose keys no other test shares."""
    return f"{REDIS_URL}?key_prefix=apiward-test-{uuid.uuid4().hex}:"


POLICY_HEAD = """
listen: [{address: "127.0.0.1:8080"}]
upstreams: {app: {targets: ["127.0.0.1:9"]}}
"""


class Gate:
    """The stages of a policy's routes, driven through the real pipeline hooks without sockets."""

    def __init__(self, policy_text: str, policy_dir: Path, store: StateStore) -> None:
        self.policy = parse_policy(POLICY_HEAD + policy_text)
        self.store = store
        services: dict[str, Any] = {}
        self.routes: dict[str, tuple[Any, list[Stage]]] = {}
        for route in self.policy.routes:
            context = StageContext(
                policy=self.policy, route=route, policy_dir=policy_dir, state=store, services=services,
            )
            stages = [
                build_stage(name, config, context)
                for name in STAGE_NAMES
                if (config := self.policy.stage_config(route, name)) is not None
            ]
            self.routes[route.name] = (route, stages)

    def stage(self, route: str, name: str) -> Stage:
        return next(stage for stage in self.routes[route][1] if stage.name == name)

    async def send(
        self, route_name: str | None = None, *, client: str = "192.0.2.1", path: str = "/",
        query: str = "", headers: list[tuple[str, str]] | None = None, method: str = "GET",
        path_params: dict[str, str] | None = None, status: int = 200,
    ) -> Exchange:
        """Run one request through the request and log hooks; ``status`` is the upstream's response status."""
        route, stages = self.routes[route_name or next(iter(self.routes))]
        exchange = Exchange(
            request_id=uuid.uuid4().hex, method=method, path=path, query=query,
            headers=Headers(headers or []), client_ip=client, peer_ip=client,
        )
        exchange.route = route
        exchange.path_params = dict(path_params or {})
        exchange.verdict = await run_hooks(bind_hooks(stages, "request_head"), exchange)
        exchange.status = exchange.verdict.status if exchange.verdict else status
        for hook in bind_hooks(stages, "log"):
            hook.call(exchange)
        await drain_background()
        return exchange
