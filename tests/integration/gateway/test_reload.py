"""Hot reload: the policy is swapped atomically while requests keep flowing."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable

import httpx
from tests.support.echo import EchoUpstream
from tests.support.gateway import GatewayThread, policy_yaml

StartGateway = Callable[[str], GatewayThread]
CLIENTS = 4
REQUESTS_PER_CLIENT = 60


def _client_loop(url: str, statuses: list[int], failures: list[str]) -> None:
    with httpx.Client(timeout=10) as client:
        for index in range(REQUESTS_PER_CLIENT):
            headers = {"x-echo-delay": "0.05"} if index % 10 == 0 else {}
            try:
                statuses.append(client.get(f"{url}/item/{index}", headers=headers).status_code)
            except httpx.HTTPError as error:
                failures.append(repr(error))


def test_reload_under_load_fails_no_request(echo_upstream: EchoUpstream, start_gateway: StartGateway) -> None:
    text = policy_yaml(echo_upstream.address)
    gateway = start_gateway(text)
    statuses: list[int] = []
    failures: list[str] = []
    threads = [threading.Thread(target=_client_loop, args=(gateway.url, statuses, failures))
               for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    reloads = 0
    while any(thread.is_alive() for thread in threads) and reloads < 20:
        limit = 50 + reloads
        gateway.policy_path.write_text(text + f"limits:\n  max_header_count: {limit}\n")
        assert gateway.reload()
        reloads += 1
        time.sleep(0.02)
    for thread in threads:
        thread.join(timeout=30)
    assert failures == []
    assert Counter(statuses) == Counter({200: CLIENTS * REQUESTS_PER_CLIENT})
    assert reloads >= 5
    assert gateway.gateway.reloads >= reloads


def test_file_change_reloads_policy(echo_upstream: EchoUpstream, start_gateway: StartGateway) -> None:
    gateway = start_gateway(policy_yaml(echo_upstream.address))
    assert httpx.post(gateway.url + "/", content=b"x").status_code == 200
    text = gateway.policy_path.read_text().replace(
        "upstream: app\n", "upstream: app\n    methods: {allow: [GET]}\n")
    gateway.policy_path.write_text(text)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and gateway.gateway.reloads == 0:
        time.sleep(0.05)
    assert gateway.gateway.reloads == 1
    assert httpx.post(gateway.url + "/", content=b"x").status_code == 405


def test_invalid_policy_keeps_running_one(echo_upstream: EchoUpstream, start_gateway: StartGateway) -> None:
    gateway = start_gateway(policy_yaml(echo_upstream.address))
    gateway.policy_path.write_text("listen: [\n")
    assert gateway.reload() is False
    assert httpx.get(gateway.url + "/").status_code == 200
    broken = policy_yaml(echo_upstream.address).replace("upstream: app", "upstream: nope")
    gateway.policy_path.write_text(broken)
    assert gateway.reload() is False
    assert httpx.get(gateway.url + "/").status_code == 200
