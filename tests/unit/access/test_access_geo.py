"""The geo stage with a tiny .mmdb built by the test."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from access_gate import Gate
from mmdb_writer import write_mmdb

from apiward.gateway.stages.geo import GeoDatabaseError

RECORDS = {
    "192.0.2.0/24": {"country": {"iso_code": "DE"}},
    "198.51.100.0/24": {"country": {"iso_code": "US"}},
    "203.0.113.0/24": {"registered_country": {"iso_code": "KP"}},
    "2001:db8::/32": {"country": {"iso_code": "FR"}},
}


def policy(geo: str) -> str:
    return f"""
routes:
  - name: api
    match: {{path: /}}
    upstream: app
    geo: {geo}
"""


@pytest.fixture
def database(tmp_path: Path) -> Path:
    return write_mmdb(tmp_path / "countries.mmdb", RECORDS)


async def test_deny_list(gate: Callable[..., Gate], database: Path) -> None:
    g = gate(policy("{database: countries.mmdb, deny: [kp, US]}"))

    assert (await g.send(client="192.0.2.1")).status == 200
    assert (await g.send(client="198.51.100.1")).status == 403
    assert (await g.send(client="203.0.113.9")).status == 403
    assert (await g.send(client="100.64.0.1")).status == 200


async def test_allow_list_denies_unknown(gate: Callable[..., Gate], database: Path) -> None:
    g = gate(policy("{database: countries.mmdb, allow: [DE, FR]}"))

    assert (await g.send(client="192.0.2.1")).status == 200
    assert (await g.send(client="2001:db8:1::1")).status == 200
    denied = await g.send(client="198.51.100.1")
    assert denied.status == 403
    assert denied.verdict is not None
    assert denied.verdict.code == "geo_blocked"
    assert denied.verdict.details == {"country": "US"}
    assert (await g.send(client="100.64.0.1")).status == 403


async def test_unknown_allowed_when_set(gate: Callable[..., Gate], database: Path) -> None:
    g = gate(policy("{database: countries.mmdb, allow: [DE], unknown: allow}"))

    assert (await g.send(client="100.64.0.1")).status == 200


def test_missing_database_is_clear(gate: Callable[..., Gate]) -> None:
    with pytest.raises(GeoDatabaseError, match=r"geo database .*nowhere.mmdb' not found"):
        gate(policy("{database: nowhere.mmdb, deny: [US]}"))


def test_corrupt_database_is_clear(gate: Callable[..., Gate], tmp_path: Path) -> None:
    (tmp_path / "bad.mmdb").write_bytes(b"not a database" * 10)
    with pytest.raises(GeoDatabaseError, match="cannot be read"):
        gate(policy("{database: bad.mmdb, deny: [US]}"))


@pytest.mark.parametrize("geo", ["{database: x.mmdb}", "{database: x.mmdb, deny: [USA]}"])
def test_invalid_config_rejected(gate: Callable[..., Gate], geo: str) -> None:
    from apiward.policy.loader import PolicyError

    with pytest.raises(PolicyError):
        gate(policy(geo))
