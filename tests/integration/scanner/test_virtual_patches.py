"""Virtual patches: the routes from ``--patch-out``, loaded into a real gateway in front of the
lab, make a second scan through the gateway come back without those findings."""

from __future__ import annotations

from pathlib import Path

import yaml
from tests.support.gateway import GatewayThread, free_port, write_policy

from apiward.scanner.findings import Status
from apiward.scanner.patches import build_patches

from .conftest import scan_lab, serve_lab

# Checks whose patch is a route stage that needs no target-specific setting. Error-based SQL
# injection is left out because a lone quote passes the WAF's default rules, and the JWT
# checks need the target's keys in the authn stage.
PATCHABLE = (
    "ssti,path-traversal,os-command,trace-method,security-headers,no-rate-limit,cors,ssrf,method-switch"
)


def _policy(upstream: str, patches: str) -> str:
    routes = yaml.safe_load(patches)["routes"]
    routes.append({"name": "all", "match": {"path": "/"}, "upstream": "api"})
    policy = {
        "listen": [{"address": f"127.0.0.1:{free_port()}"}],
        "upstreams": {"api": {"targets": [upstream.removeprefix("http://")]}},
        "routes": routes,
        "logging": {"access_log": "off", "security_log": "off"},
    }
    return yaml.safe_dump(policy, sort_keys=False)


def test_patched_gateway_blocks_findings(tmp_path: Path) -> None:
    with serve_lab(False) as lab_url:
        direct = scan_lab(lab_url, PATCHABLE)
        direct_findings = {(result.check, result.path) for result in direct.findings()}
        assert len(direct_findings) == len(PATCHABLE.split(","))
        policy_path = write_policy(tmp_path, _policy(lab_url, build_patches(direct)))
        with GatewayThread(policy_path) as gateway:
            through = scan_lab(gateway.url, PATCHABLE)
    remaining = {(result.check, result.path) for result in through.findings()}
    assert remaining == set()
    # Each check ran through the gateway and passed; none was merely skipped.
    passed = {result.check for result in through.results if result.status is Status.PASSED}
    assert passed >= set(PATCHABLE.split(","))
