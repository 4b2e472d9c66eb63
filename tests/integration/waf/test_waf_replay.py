"""Corpus replays through a real gateway with the waf stage at its default settings.

Each corpus is sent byte for byte by the shared replay tool to a gateway on 127.0.0.1 in front
of an echo upstream. A case counts as blocked when the response lacks the upstream's marker.
Thresholds sit just under the measured rates, so a detection regression fails the suite.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from tests.support.echo import EchoUpstream
from tests.support.gateway import GatewayThread, policy_yaml
from tests.support.replay import replay_command

pytestmark = pytest.mark.slow

WAF_ROUTE = "    waf: {}\n"

# Request-phase rates measured through the gateway (see docs/benchmarks.md), minus a margin.
API_ATTACKS_MIN = 95.0
BENIGN_MAX = 0.0
CRS_PL1_MIN = 97.0
CRS_ALL_MIN = 90.0


def _replay(shared: Path, url: str, corpus: str, tmp_path: Path, *extra: str) -> dict[str, Any]:
    summary = tmp_path / "summary.json"
    options = ("--concurrency", "8", "--total-timeout", "240", *extra)
    command = replay_command(shared, url, corpus, summary, *options)
    completed = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert completed.returncode == 0, completed.stderr
    result: dict[str, Any] = json.loads(summary.read_text())
    return result


@pytest.fixture
def waf_gateway(echo_upstream: EchoUpstream, start_gateway: Any) -> GatewayThread:
    gateway: GatewayThread = start_gateway(policy_yaml(echo_upstream.address, route=WAF_ROUTE))
    return gateway


def test_api_attacks_blocked(waf_gateway: GatewayThread, shared_dir: Path, tmp_path: Path) -> None:
    summary = _replay(shared_dir, waf_gateway.url, "api-attacks/cases.jsonl", tmp_path)
    assert summary["attack_cases"] == 777
    assert summary["errors"] == 0
    assert summary["detection_pct"] >= API_ATTACKS_MIN


@pytest.mark.parametrize("corpus", ["benign/stripe.jsonl", "benign/handmade.jsonl"])
def test_benign_passes(waf_gateway: GatewayThread, shared_dir: Path, tmp_path: Path, corpus: str) -> None:
    summary = _replay(shared_dir, waf_gateway.url, corpus, tmp_path)
    assert summary["pass_cases"] == {"benign/stripe.jsonl": 651, "benign/handmade.jsonl": 155}[corpus]
    assert summary["errors"] == 0
    assert summary["fp_pct"] <= BENIGN_MAX


def test_crs_attacks_blocked(waf_gateway: GatewayThread, shared_dir: Path, tmp_path: Path) -> None:
    summary = _replay(shared_dir, waf_gateway.url, "crs/cases.jsonl", tmp_path)
    assert summary["attack_cases"] == 3953
    assert summary["errors"] == 0
    assert summary["pl1_detection_pct"] >= CRS_PL1_MIN
    assert summary["detection_pct"] >= CRS_ALL_MIN
