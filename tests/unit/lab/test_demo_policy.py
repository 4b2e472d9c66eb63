"""The demo policy renders to a valid gateway policy with the chosen ports."""

from __future__ import annotations

from pathlib import Path

import yaml

from apiward.lab.demo import DemoPorts, render_policy
from apiward.policy.loader import load_policy


def test_rendered_policy_loads(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(render_policy(DemoPorts.from_base(9100)))
    policy = load_policy(path)
    assert policy.listen[0].address == ("127.0.0.1", 9100)
    assert policy.upstreams["lab"].targets[0].address == ("127.0.0.1", 9101)
    assert policy.admin is not None
    assert policy.admin.address == ("127.0.0.1", 9102)


def test_rendered_policy_closes_internal_routes() -> None:
    document = yaml.safe_load(render_policy(DemoPorts.from_base(9100)))
    routes = {route["name"]: route for route in document["routes"]}
    assert routes["lab-internal"]["ip_filter"]["deny"] == ["0.0.0.0/0", "::/0"]
    assert routes["lab-v0"]["ip_filter"]["deny"] == ["0.0.0.0/0", "::/0"]


def test_rendered_policy_keeps_every_stage() -> None:
    defaults = yaml.safe_load(render_policy(DemoPorts.from_base(9100)))["defaults"]
    assert set(defaults) == {"ip_filter", "methods", "headers", "rate_limit", "waf"}
