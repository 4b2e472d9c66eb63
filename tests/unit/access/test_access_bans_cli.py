"""``apiward bans list|add|remove`` run as a user would, against the real Redis."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from access_gate import redis_url

from apiward.state import open_state

APIWARD = str(Path(sys.executable).with_name("apiward"))


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([APIWARD, "bans", *args], capture_output=True, text=True, timeout=30, check=False)


async def test_add_list_remove() -> None:
    url = redis_url()
    added = run("add", "192.0.2.10", "--duration", "10m", "--reason", "abuse", "--state", url)
    added_v6 = run("add", "2001:db8:1:2::99", "--state", url)
    listed = run("list", "--state", url)
    store = open_state(url)
    ban = await store.banned("2001:db8:1:2::/64")
    await store.close()
    removed = run("remove", "192.0.2.10", "--state", url)
    removed_again = run("remove", "192.0.2.10", "--state", url)

    assert added.returncode == 0, added.stderr
    assert added.stdout.startswith("banned 192.0.2.10 until ")
    assert added_v6.stdout.startswith("banned 2001:db8:1:2::/64 until ")
    assert "192.0.2.10\tuntil " in listed.stdout
    assert listed.stdout.splitlines()[0].endswith("\tabuse")
    assert ban is not None
    assert removed.stdout == "removed the ban on 192.0.2.10\n"
    assert removed_again.returncode == 1
    assert "is not banned" in removed_again.stderr


def test_state_from_policy(tmp_path: Path) -> None:
    policy = tmp_path / "gateway.yaml"
    policy.write_text(
        'listen: [{address: "127.0.0.1:8080"}]\nupstreams: {app: {targets: ["127.0.0.1:9"]}}\n'
        f'routes: [{{name: a, match: {{path: /}}, upstream: app}}]\nstate: "{redis_url()}"\n'
    )
    listed = run("list", "--policy", str(policy))

    assert listed.returncode == 0, listed.stderr
    assert listed.stdout == "no bans in force\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("add", "192.0.2.0/24", "--state", "redis://127.0.0.1:6379/0"), "IPv4 bans are per address"),
        (("add", "not-an-ip", "--state", "redis://127.0.0.1:6379/0"), "invalid client 'not-an-ip'"),
        (("add", "192.0.2.1", "--duration", "soon", "--state", "redis://127.0.0.1:6379/0"), "duration"),
        (("list", "--state", "memory"), "keeps bans inside the gateway process"),
        (("list",), "--state URL or --policy FILE"),
        (("list", "--state", "redis://127.0.0.1:1/0"), "listing bans on redis failed"),
    ],
)
def test_bad_input_is_explained(args: tuple[str, ...], message: str) -> None:
    result = run(*args)

    assert result.returncode != 0
    assert message in result.stderr
