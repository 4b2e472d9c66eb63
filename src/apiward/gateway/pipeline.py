"""The stage pipeline: Stage interface, Exchange, Verdict, and how a compiled route runs.

A stage is built once per route when the policy is compiled. On the hot path a route keeps
tuples of bound hooks, and the pipeline calls only the hooks a stage overrides:

- ``request_head(exchange)``: method, normalised path, query, headers and client are known.
- ``request_body(exchange, body)``: the body the stage asked for is buffered.
- ``response_head(exchange)``: upstream status and headers are in ``exchange.response_headers``.
- ``response_body(exchange, body)``: the response body the stage asked for is buffered.
- ``log(exchange)``: always, after the exchange ends, also after a denial.

Request hooks run in policy order and response hooks in reverse. The first :class:`Verdict`
ends the exchange with the gateway's own JSON response. The response hooks of the stages whose
request hooks already ran still see that response, so security headers are added to denials too.
A hook that raises denies with 500 ``stage_error`` unless its stage is configured ``fail_open``,
in which case the failure is counted and logged and the exchange goes on.
A hook may be a coroutine function (for stages that do I/O); the pipeline awaits only those.
"""

from __future__ import annotations

import dataclasses
import inspect
import ipaddress
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from mypy_extensions import mypyc_attr

from apiward.events.models import SecurityEvent

log = logging.getLogger("apiward.gateway.pipeline")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
HookResult = "Verdict | None | Awaitable[Verdict | None]"


class Headers:
    """An ordered list of header fields with lower-case names and str values (latin-1).

    Lookups scan the list: requests carry a dozen headers, and a scan is cheaper than a dict.
    """

    __slots__ = ("items",)

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        self.items: list[tuple[str, str]] = list(items)

    def get(self, name: str, default: str | None = None) -> str | None:
        """Return the first value of ``name`` (lower-case), or ``default``."""
        for key, value in self.items:
            if key == name:
                return value
        return default

    def get_all(self, name: str) -> list[str]:
        return [value for key, value in self.items if key == name]

    def __contains__(self, name: object) -> bool:
        return any(key == name for key, _ in self.items)

    def add(self, name: str, value: str) -> None:
        self.items.append((name, value))

    def set(self, name: str, value: str) -> None:
        """Replace every field called ``name`` with one field."""
        self.remove(name)
        self.items.append((name, value))

    def remove(self, name: str) -> None:
        if any(key == name for key, _ in self.items):
            self.items = [(key, value) for key, value in self.items if key != name]

    def __iter__(self) -> Any:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def __repr__(self) -> str:
        return f"Headers({self.items!r})"


@dataclass
class Identity:
    """The caller's identity, once a stage has authenticated them."""

    subject: str
    consumer: str | None = None
    scopes: frozenset[str] = frozenset()
    roles: frozenset[str] = frozenset()
    claims: dict[str, Any] = dataclasses.field(default_factory=dict)
    method: str = ""
    """The authentication method: ``jwt``, ``api_key`` or ``introspection``."""


@dataclass
class Verdict:
    """A stage's decision to end the exchange with the gateway's own response.

    ``message`` goes to the client, so it states what is wrong in general terms and never which
    detection rule fired; ``rule_ids``, ``attack_class``, ``field`` and ``details`` go only to
    the SecurityEvent.
    """

    status: int
    code: str
    message: str
    headers: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    category: str | None = None
    attack_class: str | None = None
    rule_ids: tuple[str, ...] = ()
    field: str | None = None
    score: int | None = None
    details: dict[str, Any] = dataclasses.field(default_factory=dict)
    stage: str = ""
    """Filled in by the pipeline with the name of the stage that returned the verdict."""
    close: bool = False
    """Close the client connection after the response."""


class Exchange:
    """One request and its response as they pass the gateway; stages read and annotate it."""

    __slots__ = (
        "_client", "body", "bytes_in", "bytes_out", "client_ip", "events", "extra_response_headers",
        "headers", "identity", "late_sink", "method", "path", "path_params", "peer_ip", "query", "raw_path",
        "raw_target",
        "request_id", "response_headers", "route", "scheme", "stage_data", "started",
        "status", "upstream_time", "verdict", "version",
    )

    def __init__(
        self,
        *,
        request_id: str,
        method: str,
        path: str,
        query: str,
        headers: Headers,
        client_ip: str,
        peer_ip: str,
        scheme: str = "http",
        raw_target: bytes = b"",
        version: str = "1.1",
    ) -> None:
        self.request_id = request_id
        self.method = method
        self.path = path
        """The normalised path, exactly as the upstream receives it."""
        self.raw_path = path
        """The path as the client sent it, before normalisation."""
        self.query = query
        """The raw query string without the leading ``?``."""
        self.headers = headers
        self.client_ip = client_ip
        """Resolved client address (trusted-proxy rules applied), as text."""
        self._client: IPAddress | None = None
        self.peer_ip = peer_ip
        """Address of the TCP peer, which is a proxy when the client came through one."""
        self.scheme = scheme
        self.raw_target = raw_target
        self.version = version
        self.route: Any = None
        self.path_params: dict[str, str] = {}
        self.identity: Identity | None = None
        self.body: bytes | None = None
        self.status = 0
        self.response_headers: Headers | None = None
        self.extra_response_headers: list[tuple[str, str]] = []
        """Headers a request stage wants on the response, such as RateLimit fields."""
        self.stage_data: dict[str, Any] = {}
        self.verdict: Verdict | None = None
        self.events: list[SecurityEvent] = []
        self.late_sink: Callable[[SecurityEvent], None] | None = None
        """Set when the exchange has ended, so events recorded later (by a task) are emitted at once."""
        self.started = time.perf_counter()
        self.upstream_time: float | None = None
        self.bytes_in = 0
        self.bytes_out = 0

    @property
    def client(self) -> IPAddress:
        """The resolved client address as an ``ipaddress`` object, parsed on first use."""
        if self._client is None:
            self._client = ipaddress.ip_address(self.client_ip)
        return self._client

    def event(self, verdict: Verdict, stage: str, action: Literal["blocked", "logged"]) -> SecurityEvent:
        """Record a SecurityEvent for ``verdict`` (blocked) or for a detection only logged."""
        route_name = getattr(self.route, "name", "") if self.route is not None else ""
        event = SecurityEvent(
            time=time.time(), request_id=self.request_id, client=self.client_ip, route=route_name,
            stage=stage, action=action, status=verdict.status, code=verdict.code,
            message=verdict.message, category=verdict.category, attack_class=verdict.attack_class,
            rule_ids=verdict.rule_ids, field=verdict.field, score=verdict.score,
            method=self.method, path=self.path, details=verdict.details,
        )
        self.events.append(event)
        if self.late_sink is not None:
            self.late_sink(event)
        return event


@mypyc_attr(allow_interpreted_subclasses=True)
class Stage:
    """Base class of a gateway control. Override only the hooks the stage needs.

    Attributes a stage may set (``name`` in the class body; the others in ``__init__``,
    because a compiled pipeline reads them from the instance, not from a subclass's body):

    - ``name``: the policy key, e.g. ``"ip_filter"``.
    - ``request_body_limit``: when > 0 the pipeline buffers up to this many request bytes
      for ``request_body``; a larger body gets ``body_over_limit`` (deny with 413 by default).
    - ``response_body_limit``: the same for response bodies whose content type
      ``wants_response_body`` accepts.
    """

    name: ClassVar[str] = "stage"
    fail_open: bool = False
    request_body_limit: int = 0
    body_over_limit: Literal["deny", "pass"] = "deny"
    response_body_limit: int = 0

    def request_head(self, exchange: Exchange) -> Verdict | Awaitable[Verdict | None] | None:
        return None

    def wants_request_body(self, exchange: Exchange) -> bool:
        """Say whether this request's body must be buffered for ``request_body``."""
        return self.request_body_limit > 0

    def request_body(self, exchange: Exchange, body: bytes) -> Verdict | Awaitable[Verdict | None] | None:
        return None

    def response_head(self, exchange: Exchange) -> Verdict | Awaitable[Verdict | None] | None:
        return None

    def wants_response_body(self, exchange: Exchange) -> bool:
        return self.response_body_limit > 0

    def response_body(self, exchange: Exchange, body: bytes) -> Verdict | Awaitable[Verdict | None] | None:
        return None

    def log(self, exchange: Exchange) -> None:
        return None

    async def start(self) -> None:
        """Start background work (JWKS refresh, health probes); called once per compiled policy."""

    async def close(self) -> None:
        """Stop background work when a reload replaces this stage."""


Hook = Callable[..., Any]


@dataclass(frozen=True)
class BoundHook:
    stage: Stage
    call: Hook
    is_async: bool


def _overrides(stage: Stage, hook: str) -> bool:
    return getattr(type(stage), hook) is not getattr(Stage, hook)


def bind_hooks(stages: Iterable[Stage], hook: str, *, reverse: bool = False) -> tuple[BoundHook, ...]:
    """Collect the overridden ``hook`` of each stage, in order (or reversed)."""
    ordered = list(stages)
    if reverse:
        ordered.reverse()
    return tuple(
        BoundHook(stage, getattr(stage, hook), inspect.iscoroutinefunction(getattr(stage, hook)))
        for stage in ordered
        if _overrides(stage, hook)
    )


class StageFailure(Exception):
    """A stage raised while handling an exchange."""


def stage_error_verdict(stage: Stage, exchange: Exchange, error: BaseException) -> Verdict | None:
    """Turn an exception in a stage into a denial, or into None when the stage fails open."""
    log.error(
        "stage %s failed on request %s: %s: %s", stage.name, exchange.request_id,
        type(error).__name__, error,
    )
    if stage.fail_open:
        exchange.stage_data.setdefault("_failed_open", []).append(stage.name)
        return None
    return Verdict(500, "stage_error", "The request could not be checked and was denied.", stage=stage.name)


async def run_hooks(hooks: tuple[BoundHook, ...], exchange: Exchange, *args: Any) -> Verdict | None:
    """Run hooks in order and return the first verdict (with its stage name filled in)."""
    for hook in hooks:
        try:
            result = hook.call(exchange, *args)
            if hook.is_async:
                result = await result
        except Exception as error:  # noqa: BLE001 - fail closed: any stage error denies
            result = stage_error_verdict(hook.stage, exchange, error)
        if result is not None:
            verdict: Verdict = result
            if not verdict.stage:
                verdict.stage = hook.stage.name
            return verdict
    return None


def run_hooks_sync(hooks: tuple[BoundHook, ...], exchange: Exchange) -> Verdict | None:
    """Run head or log hooks that are all synchronous, without the cost of a coroutine."""
    for hook in hooks:
        try:
            # A fixed argument list, unlike *args, is passed without building a tuple.
            result = hook.call(exchange)
        except Exception as error:  # noqa: BLE001 - fail closed: any stage error denies
            result = stage_error_verdict(hook.stage, exchange, error)
        if result is not None:
            return _named(result, hook)
    return None


def run_body_hooks_sync(hooks: tuple[BoundHook, ...], exchange: Exchange, body: bytes) -> Verdict | None:
    """Run body hooks that are all synchronous, as :func:`run_hooks_sync` does head hooks."""
    for hook in hooks:
        try:
            result = hook.call(exchange, body)
        except Exception as error:  # noqa: BLE001 - fail closed: any stage error denies
            result = stage_error_verdict(hook.stage, exchange, error)
        if result is not None:
            return _named(result, hook)
    return None


def _named(verdict: Verdict, hook: BoundHook) -> Verdict:
    if not verdict.stage:
        verdict.stage = hook.stage.name
    return verdict


@dataclass
class StageContext:
    """The shared objects a stage builder may use besides its own configuration."""

    policy: Any
    """The whole :class:`~apiward.policy.model.Policy`."""
    route: Any
    """The :class:`~apiward.policy.model.Route` the stage is built for."""
    policy_dir: Any
    """Directory of the policy file (a ``pathlib.Path``); relative file names resolve here."""
    state: Any = None
    """The shared state back end (:mod:`apiward.state`), or None before it exists."""
    services: dict[str, Any] = dataclasses.field(default_factory=dict)
    """Objects shared by all routes of one compiled policy (JWKS caches, WAF engines...)."""
