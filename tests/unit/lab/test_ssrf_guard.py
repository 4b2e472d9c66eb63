"""The SSRF fence: even the vulnerable lab connects only to loopback, and never resolves names."""

from __future__ import annotations

import pytest

from apiward.lab.ssrf import DestinationRejected, checked_destination

# Each of these must be rejected before any connection or DNS query; none is ever contacted.
NEVER_FETCHED = [
    ("http://10.0.0.1/", "outside loopback"),
    ("http://192.168.1.1/", "outside loopback"),
    ("http://169.254.169.254/latest/meta-data/", "outside loopback"),
    ("http://[fd00::1]/", "outside loopback"),
    ("http://93.184.215.14/", "outside loopback"),
    ("http://0.0.0.0/", "outside loopback"),
    ("http://example.com/", "resolves no names"),
    ("http://2130706433/", "resolves no names"),
    ("http://0x7f000001/", "resolves no names"),
    ("http://localtest.me/", "resolves no names"),
    ("file:///etc/passwd", "unsupported URL scheme"),
    ("gopher://127.0.0.1:6379/", "unsupported URL scheme"),
    ("http:///path-only", "has no host"),
]


@pytest.mark.parametrize("url, message", NEVER_FETCHED)
def test_vulnerable_lab_rejects(url: str, message: str) -> None:
    with pytest.raises(DestinationRejected, match=message):
        checked_destination(url, allow_loopback=True)


def test_rejection_table_size() -> None:
    assert len(NEVER_FETCHED) == 13


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/x", "http://localhost:9/x", "http://[::1]:9/x"])
def test_vulnerable_lab_allows_loopback(url: str) -> None:
    target, host_header = checked_destination(url, allow_loopback=True)
    assert target.host in {"127.0.0.1", "::1"}
    assert target.port == 9
    assert host_header.endswith(":9")


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1/", "http://localhost/", "http://[::1]/", "http://10.1.2.3/"]
)
def test_fixed_lab_rejects_non_public(url: str) -> None:
    with pytest.raises(DestinationRejected, match="not a public address"):
        checked_destination(url, allow_loopback=False)


def test_fixed_lab_rejects_public_too() -> None:
    with pytest.raises(DestinationRejected, match="outside loopback"):
        checked_destination("http://93.184.215.14/", allow_loopback=False)
