"""The running gateway in one process: listeners, the sweeper, hot reload and background tasks.

A reload (SIGHUP, or a change of the policy file seen by the watcher) compiles the new policy
completely and then swaps :attr:`Gateway.compiled`. Exchanges in flight keep the compiled
policy they started with; the old one is closed when its last exchange ends. An invalid new
policy is logged and the running one stays. Listener addresses are read at start only.

With several workers every worker opens the admin listener too (SO_REUSEPORT), so one scrape of
``/metrics`` reaches one worker and shows that worker's counters only.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hashlib
import logging
import signal
import socket
from collections.abc import Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any

from apiward.gateway.admin import AdminConnection
from apiward.gateway.compile import CompiledPolicy, compile_policy, new_metrics
from apiward.gateway.tls import RedirectConnection, server_context
from apiward.native import hot_path_mode, stale_extensions
from apiward.policy.loader import PolicyError, load_policy

if TYPE_CHECKING:
    from apiward.gateway.server import ClientConnection

log = logging.getLogger("apiward.gateway")

WATCH_INTERVAL = 1.0


class Gateway:
    """One gateway process serving a policy file."""

    def __init__(self, policy_path: str | Path, *, reuse_port: bool = False, watch: bool = True) -> None:
        self.policy_path = Path(policy_path)
        self.reuse_port = reuse_port
        self.watch = watch
        self.metrics = new_metrics()
        self.connections: set[ClientConnection] = set()
        self.client_connections: dict[str, int] = {}
        """Open connections per client key (the TCP peer address, IPv6 grouped by /64)."""
        self.ports: list[int] = []
        self.admin_port: int | None = None
        self.reloads = 0
        self._servers: list[asyncio.Server] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._fingerprint: tuple[int, int, str] | None = None
        # Plain attributes rather than properties, because the hot path reads them per request.
        # Both exist once start() has run.
        self.compiled: CompiledPolicy
        self.loop: asyncio.AbstractEventLoop

    async def start(self) -> None:
        """Load and compile the policy, then open every listener (raises PolicyError, OSError)."""
        self.loop = asyncio.get_running_loop()
        self._fingerprint = self._read_fingerprint()
        policy = load_policy(self.policy_path)
        compiled = compile_policy(policy, self.policy_path)
        await compiled.start()
        self.compiled = compiled
        await self._open_listeners()
        self.spawn(self._sweep())
        if self.watch:
            self.spawn(self._watch_file())
        listeners = ", ".join(f"{host}:{port}" for (host, _), port in zip(
            [listener.address for listener in policy.listen], self.ports, strict=True))
        admin = f"; admin on {policy.admin.address[0]}:{self.admin_port}" if policy.admin else ""
        log.info("gateway listening on %s%s; policy %s; hot path %s", listeners, admin, self.policy_path,
                 hot_path_mode())
        for extension in stale_extensions():
            log.warning("compiled module %s is older than its source, so it runs outdated code. "
                        "Rebuild with 'make compiled' or scripts/build_compiled.py", extension.name)

    async def _open_listeners(self) -> None:
        from apiward.gateway.server import ClientConnection

        policy = self.compiled.policy
        for listener in policy.listen:
            host, port = listener.address
            context = server_context(listener.tls.cert, listener.tls.key, self.policy_path.parent) if (
                listener.tls) else None
            scheme = "https" if context else "http"
            server = await self.loop.create_server(
                lambda scheme=scheme: ClientConnection(self, scheme),
                host, port, ssl=context, reuse_port=self.reuse_port, backlog=1024,
            )
            self._servers.append(server)
            self.ports.append(_bound_port(server))
            if listener.tls is not None and listener.tls.redirect_from is not None:
                https_port = self.ports[-1]
                redirect_host, redirect_port = listener.tls.redirect_from
                redirect = await self.loop.create_server(
                    lambda https_port=https_port: RedirectConnection(https_port),  # type: ignore[misc]
                    redirect_host, redirect_port, reuse_port=self.reuse_port,
                )
                self._servers.append(redirect)
        if policy.admin is not None:
            host, port = policy.admin.address
            admin = await self.loop.create_server(lambda: AdminConnection(self), host, port,
                                                  reuse_port=self.reuse_port)
            self._servers.append(admin)
            self.admin_port = _bound_port(admin)

    def open_connection(self, connection: ClientConnection) -> str | None:
        """Register a new client connection; return the reason when a connection limit rejects it."""
        compiled = self.compiled
        if len(self.connections) >= compiled.limits.max_connections:
            return "The gateway is at its connection limit; retry later."
        # Connections are counted per client even without a per-client limit, so a reload that
        # sets one counts the connections that are already open.
        # NOTE: the count is per worker process, so with --workers N one client can hold up to N
        # times the limit.
        key = connection.client_key
        count = self.client_connections.get(key, 0)
        per_client = compiled.limits.max_connections_per_client
        if per_client is not None and count >= per_client:
            return "This client address has too many open connections; close some and retry."
        self.client_connections[key] = count + 1
        self.connections.add(connection)
        self.metrics.connection_opened()
        return None

    def close_connection(self, connection: ClientConnection) -> None:
        if connection in self.connections:
            self.connections.discard(connection)
            key = connection.client_key
            count = self.client_connections.get(key, 0) - 1
            if count > 0:
                self.client_connections[key] = count
            else:
                self.client_connections.pop(key, None)
            self.metrics.connection_closed()

    def spawn(self, coroutine: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run a background task, keep a reference until it ends and log its failure."""
        task = self.loop.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("gateway task failed", exc_info=task.exception())

    async def _sweep(self) -> None:
        from apiward.gateway.server import SWEEP_INTERVAL

        while True:
            await asyncio.sleep(SWEEP_INTERVAL)
            now = self.loop.time()
            for connection in list(self.connections):
                if connection.deadline_kind and now >= connection.deadline:
                    connection.on_deadline()
            compiled = self.compiled
            compiled.flush_logs()
            for name, pool in compiled.pools.items():
                pool.close_idle(older_than=now - pool.config.idle_timeout)
                self.metrics.set_pool_size(name, pool.idle_count())

    # -- reload -------------------------------------------------------------------------

    async def reload(self) -> bool:
        """Compile the policy file again and swap it in; keep the running one when it is invalid."""
        self._fingerprint = self._read_fingerprint()
        try:
            policy = load_policy(self.policy_path)
            compiled = compile_policy(policy, self.policy_path)
            await compiled.start()
        except PolicyError as error:
            log.error("policy reload rejected, keeping the running policy:\n%s", error)
            return False
        except Exception:  # a failing stage build must not stop the gateway
            log.exception("policy reload failed while building stages, keeping the running policy")
            return False
        old = self.compiled
        self.compiled = compiled
        self.reloads += 1
        old.retired = True
        if old.inflight == 0:
            self.retire(old)
        log.info("policy reloaded from %s", self.policy_path)
        return True

    def retire(self, compiled: CompiledPolicy) -> None:
        """Close a replaced policy once its last exchange has ended."""
        self.spawn(compiled.close())

    def _read_fingerprint(self) -> tuple[int, int, str] | None:
        try:
            stat = self.policy_path.stat()
            digest = hashlib.sha256(self.policy_path.read_bytes()).hexdigest()
        except OSError:
            return None
        return stat.st_mtime_ns, stat.st_size, digest

    async def _watch_file(self) -> None:
        while True:
            await asyncio.sleep(WATCH_INTERVAL)
            fingerprint = self._read_fingerprint()
            if fingerprint is not None and fingerprint != self._fingerprint:
                self._fingerprint = fingerprint
                await self.reload()

    def install_signal_handlers(self, stop: asyncio.Event) -> None:
        """Reload on SIGHUP and stop on SIGTERM or SIGINT (main thread only)."""
        self.loop.add_signal_handler(signal.SIGHUP, lambda: self.spawn(self.reload()))
        self.loop.add_signal_handler(signal.SIGTERM, stop.set)
        self.loop.add_signal_handler(signal.SIGINT, stop.set)

    async def stop(self) -> None:
        """Close listeners, connections, background tasks and the compiled policy."""
        log.info("gateway stopping: closing %d connections", len(self.connections))
        for server in self._servers:
            server.close()
        for connection in list(self.connections):
            connection.close()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if hasattr(self, "compiled"):
            await self.compiled.close()


def _bound_port(server: asyncio.Server) -> int:
    sock: socket.socket = server.sockets[0]
    port: int = sock.getsockname()[1]
    return port


async def serve(policy_path: str | Path, *, reuse_port: bool = False, watch: bool = True) -> None:
    """Run a gateway until SIGTERM or SIGINT."""
    gateway = Gateway(policy_path, reuse_port=reuse_port, watch=watch)
    await gateway.start()
    # Move everything built at start-up (modules, policy, stages) out of the collector's reach:
    # otherwise each full collection walks those objects again while requests wait.
    gc.collect()
    gc.freeze()
    stop = asyncio.Event()
    gateway.install_signal_handlers(stop)
    try:
        await stop.wait()
    finally:
        await gateway.stop()
