"""The ``ip_filter`` stage: allow and deny CIDR lists on the resolved client address.

A client inside a deny block is denied even when an allow block also contains it. When the
allow list is not empty, a client outside every allow block is denied. IPv4-mapped IPv6
addresses (``::ffff:192.0.2.1``) are checked as the IPv4 address they carry, so a dual-stack
listener cannot be used to step around an IPv4 rule. A client address that does not parse is
denied.

Denials use OWASP API Security Top 10 2023 category ``API8:2023`` (Security Misconfiguration):
which networks may reach an API is part of its deployment configuration, and the other
categories describe flaws in the API itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network
from typing import Any

from apiward.gateway.forwarding import parse_address
from apiward.gateway.pipeline import Exchange, Stage, StageContext, Verdict
from apiward.policy.stages.ip_filter import IpFilterConfig

CATEGORY = "API8:2023"
CACHE_SIZE = 10_000
"""Decisions cached per client address text; the cache is emptied when it reaches this size."""


class _NetworkSet:
    """CIDR blocks split by address family, so a lookup only tests blocks of its own family."""

    def __init__(self, networks: Sequence[IPv4Network | IPv6Network]) -> None:
        v4: list[IPv4Network] = []
        v6: list[IPv6Network] = []
        for network in networks:
            as_ipv4 = _as_ipv4(network)
            if as_ipv4 is not None:
                v4.append(as_ipv4)
            elif isinstance(network, IPv6Network):
                v6.append(network)
        self.v4 = tuple(v4)
        self.v6 = tuple(v6)

    def __bool__(self) -> bool:
        return bool(self.v4 or self.v6)

    def __contains__(self, address: object) -> bool:
        if isinstance(address, IPv4Address):
            return any(address in network for network in self.v4)
        if isinstance(address, IPv6Address):
            return any(address in network for network in self.v6)
        return False


def _as_ipv4(network: IPv4Network | IPv6Network) -> IPv4Network | None:
    """Return the block as IPv4, unwrapping IPv4-mapped IPv6 blocks (``::ffff:0:0/96`` and longer).

    Returns None for other IPv6 blocks.
    """
    if isinstance(network, IPv4Network):
        return network
    mapped = network.network_address.ipv4_mapped
    if mapped is not None and network.prefixlen >= 96:
        return IPv4Network((mapped, network.prefixlen - 96))
    return None


_UNDECIDED = "undecided"
"""Marks an address without a remembered decision; never one of the decide() reasons."""


class IpFilterStage(Stage):
    """Denies clients by address with allow and deny CIDR lists."""

    name = "ip_filter"

    def __init__(self, config: IpFilterConfig) -> None:
        self._allow = _NetworkSet(config.allow)
        self._deny = _NetworkSet(config.deny)
        self._decisions: dict[str, str | None] = {}

    def decide(self, client_ip: str) -> str | None:
        """Return why ``client_ip`` is denied, or None when it may pass.

        The reasons are ``deny_list``, ``not_in_allow_list`` and ``invalid_address``.
        """
        if client_ip in self._decisions:
            return self._decisions[client_ip]
        address = parse_address(client_ip)
        reason: str | None = None
        if address is None:
            reason = "invalid_address"
        elif address in self._deny:
            reason = "deny_list"
        elif self._allow and address not in self._allow:
            reason = "not_in_allow_list"
        if len(self._decisions) >= CACHE_SIZE:
            self._decisions.clear()
        self._decisions[client_ip] = reason
        return reason

    def request_head(self, exchange: Exchange) -> Verdict | None:
        client_ip = exchange.client_ip
        # A remembered decision is read here without the call to decide().
        reason = self._decisions.get(client_ip, _UNDECIDED)
        if reason is _UNDECIDED:
            reason = self.decide(client_ip)
        if reason is None:
            return None
        return Verdict(
            403, "ip_denied", "Access from this address is not allowed.",
            category=CATEGORY, details={"reason": reason},
        )


def build(config: Any, context: StageContext) -> IpFilterStage:
    if not isinstance(config, IpFilterConfig):
        raise TypeError(f"ip_filter stage needs an IpFilterConfig, got {type(config).__name__}")
    return IpFilterStage(config)
