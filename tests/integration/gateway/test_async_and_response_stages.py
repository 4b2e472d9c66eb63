"""Asynchronous hooks and response-body inspection, driven by small test stages in a real gateway."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from tests.support.echo import EchoUpstream
from tests.support.gateway import GatewayThread, policy_yaml

from apiward.gateway import compile as compile_module
from apiward.gateway.pipeline import Exchange, Stage, StageContext, Verdict

StartGateway = Callable[[str], GatewayThread]


class AsyncGate(Stage):
    """Deny requests carrying ``x-deny`` after an await, as a stage doing I/O would."""

    name = "headers"

    async def request_head(self, exchange: Exchange) -> Verdict | None:
        await asyncio.sleep(0.001)
        if exchange.headers.get("x-deny"):
            return Verdict(403, "denied_async", "Denied by an asynchronous stage.")
        return None

    async def response_head(self, exchange: Exchange) -> Verdict | None:
        await asyncio.sleep(0.001)
        assert exchange.response_headers is not None
        exchange.response_headers.add("x-async-seen", "1")
        return None


class BodyFilter(Stage):
    """Deny responses whose body contains a marker; responses stay buffered up to 64 KiB."""

    name = "headers"

    def __init__(self) -> None:
        # Set on the instance: the compiled pipeline reads the limits from there.
        self.response_body_limit = 64 * 1024

    def response_body(self, exchange: Exchange, body: bytes) -> Verdict | None:
        if b"SECRET" in body:
            return Verdict(502, "response_blocked", "The response was blocked.")
        return None


@pytest.fixture
def test_stage(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[type[Stage]], None]]:
    def install(stage_class: type[Stage]) -> None:
        def build(name: str, config: Any, context: StageContext) -> Stage:
            return stage_class()

        monkeypatch.setattr(compile_module, "build_stage", build)

    yield install


def test_async_request_hook_denies(
    echo_upstream: EchoUpstream, start_gateway: StartGateway, test_stage: Callable[[type[Stage]], None]
) -> None:
    test_stage(AsyncGate)
    gateway = start_gateway(policy_yaml(echo_upstream.address, route="    headers: {}\n"))
    denied = httpx.get(gateway.url + "/", headers={"x-deny": "1"})
    assert denied.status_code == 403
    assert denied.json()["error"] == "denied_async"
    assert denied.headers["x-async-seen"] == "1"
    allowed = httpx.get(gateway.url + "/")
    assert allowed.status_code == 200
    assert allowed.headers["x-async-seen"] == "1"
    assert echo_upstream.requests == 1


def test_response_body_inspected(
    echo_upstream: EchoUpstream, start_gateway: StartGateway, test_stage: Callable[[type[Stage]], None]
) -> None:
    test_stage(BodyFilter)
    gateway = start_gateway(policy_yaml(echo_upstream.address, route="    headers: {}\n"))
    with httpx.Client() as client:
        clean = client.get(gateway.url + "/clean", headers={"x-echo-chunks": "3"})
        blocked = client.get(gateway.url + "/SECRET")
        after = client.get(gateway.url + "/after")
    assert clean.status_code == 200
    assert clean.json()["path"] == "/clean"
    assert blocked.status_code == 502
    assert blocked.json()["error"] == "response_blocked"
    assert "SECRET" not in blocked.text
    assert after.status_code == 200


def test_response_over_inspection_limit(
    echo_upstream: EchoUpstream, start_gateway: StartGateway, test_stage: Callable[[type[Stage]], None]
) -> None:
    test_stage(BodyFilter)
    gateway = start_gateway(policy_yaml(echo_upstream.address, route="    headers: {}\n"))
    response = httpx.get(gateway.url + "/", headers={"x-echo-size": str(1024 * 1024)})
    assert response.status_code == 502
    assert response.json()["error"] == "response_too_large"


class Recorder(Stage):
    """Record start and close calls, so a test can see when a reload retires a stage."""

    name = "headers"
    events: list[str] = []  # noqa: RUF012 - shared on purpose between instances

    async def start(self) -> None:
        self.events.append(f"start {id(self)}")

    async def close(self) -> None:
        self.events.append(f"close {id(self)}")


def test_reload_closes_old_stages_after_drain(
    echo_upstream: EchoUpstream, start_gateway: StartGateway, test_stage: Callable[[type[Stage]], None]
) -> None:
    Recorder.events.clear()
    test_stage(Recorder)
    gateway = start_gateway(policy_yaml(echo_upstream.address, route="    headers: {}\n"))
    with httpx.Client() as client:
        assert client.get(gateway.url + "/").status_code == 200
        slow = threading.Thread(target=lambda: client.get(gateway.url + "/", headers={"x-echo-delay": "0.5"}))
        slow.start()
        time.sleep(0.2)
        assert gateway.reload()
        assert [event.split()[0] for event in Recorder.events] == ["start", "start"]
        slow.join()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and len(Recorder.events) < 3:
        time.sleep(0.02)
    first = Recorder.events[0].split()[1]
    assert Recorder.events[2] == f"close {first}"
