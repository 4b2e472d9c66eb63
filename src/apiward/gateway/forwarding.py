"""Client address resolution, request ids and the forwarding headers sent upstream.

Forwarding headers are believed only from peers inside ``trusted_proxies``:

- From an untrusted peer the client is the peer itself, and ``X-Forwarded-For``,
  ``X-Forwarded-Proto``, ``X-Forwarded-Host``, ``Forwarded`` and ``X-Request-Id`` are replaced,
  never appended to. Other client-address headers that upstream frameworks are known to read
  (``X-Real-IP``, ``True-Client-IP`` and similar) are removed, and ``X-Real-IP`` is set to the
  resolved client.
- From a trusted peer the client is the right-most address in ``X-Forwarded-For`` that is not a
  trusted proxy (walking right to left), and the peer is appended to the existing chains.
  When the trusted peer sent no ``X-Forwarded-For``, the ``for=`` parameters of ``Forwarded``
  are walked the same way.
"""

from __future__ import annotations

import functools
import ipaddress
import os
import re
from collections.abc import Sequence
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network

from apiward.gateway.pipeline import Headers

_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_FORWARDED_PAIR = re.compile(
    r"""[\s;,]*([!#$%&'*+.^_`|~0-9A-Za-z-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;,"\s]*)\s*"""
)
_CACHE_SIZE = 4096

_REPLACED = frozenset(
    ("x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "forwarded", "x-request-id", "x-real-ip")
)
_SPOOFABLE = frozenset(
    (
        "x-client-ip", "true-client-ip", "x-cluster-client-ip", "x-original-forwarded-for",
        "forwarded-for", "x-forwarded", "x-forwarded-server", "x-forwarded-port", "x-originating-ip",
        "client-ip", "cf-connecting-ip", "fastly-client-ip",
    )
)
"""Client-address headers an untrusted client could set to impersonate another address."""
_REMOVED_FROM_UNTRUSTED = _REPLACED | _SPOOFABLE


def parse_ip(text: str) -> IPv4Address | IPv6Address | None:
    """Parse an address as found in X-Forwarded-For (optionally ``[v6]``, ``v4:port``, ``[v6]:port``).

    IPv4-mapped IPv6 addresses are returned as IPv4. Returns None when ``text`` is not an address.
    """
    text = text.strip().strip('"')
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    return parse_address(text)


def parse_address(text: str) -> IPv4Address | IPv6Address | None:
    """Parse a bare IPv4 or IPv6 address, returning IPv4-mapped IPv6 as IPv4; None if invalid."""
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


class Forwarding:
    """Resolves the client behind trusted proxies and rewrites the forwarding headers."""

    def __init__(self, trusted_proxies: Sequence[IPv4Network | IPv6Network]) -> None:
        self._networks = tuple(trusted_proxies)
        self._trusted_cache: dict[str, bool] = {}

    def is_trusted(self, address: str) -> bool:
        """Tell whether ``address`` (text) lies in one of the trusted proxy networks."""
        cached = self._trusted_cache.get(address)
        if cached is not None:
            return cached
        trusted = False
        if self._networks:
            parsed = parse_ip(address)
            trusted = parsed is not None and any(parsed in network for network in self._networks)
        if len(self._trusted_cache) >= _CACHE_SIZE:
            self._trusted_cache.clear()
        self._trusted_cache[address] = trusted
        return trusted

    def client_ip(self, peer_ip: str, headers: Headers) -> str:
        """Return the client address: the peer, or the origin behind trusted proxies."""
        if not self._networks or not self.is_trusted(peer_ip):
            return peer_ip
        chain = _forwarded_for_chain(headers)
        client = peer_ip
        for entry in reversed(chain):
            address = parse_ip(entry)
            if address is None:
                # A malformed entry ends the walk: everything left of it is unverifiable, and the
                # nearest trusted hop is a real address, not a value the client chose.
                break
            client = str(address)
            if not self.is_trusted(client):
                break
        return client

    def request_id(self, peer_ip: str, headers: Headers) -> str:
        """Return a trusted peer's ``X-Request-Id`` if it is a safe token, else a new random id."""
        if self._networks and self.is_trusted(peer_ip):
            supplied = headers.get("x-request-id")
            if supplied is not None and _REQUEST_ID.fullmatch(supplied):
                return supplied
        return new_request_id()

    def rewrite(
        self, headers: Headers, peer_ip: str, client_ip: str, scheme: str, host: str, request_id: str
    ) -> None:
        """Set the forwarding headers for the upstream request, in place."""
        if self._networks and self.is_trusted(peer_ip):
            items = self._trusted_items(headers, peer_ip, scheme, host)
        else:
            items = [(name, value) for name, value in headers.items if name not in _REMOVED_FROM_UNTRUSTED]
            items += _untrusted_fields(client_ip, scheme, host)
            items.append(("x-request-id", request_id))
            headers.items = items
            return
        items.append(("x-real-ip", client_ip))
        items.append(("x-request-id", request_id))
        headers.items = items

    @staticmethod
    def _trusted_items(headers: Headers, peer_ip: str, scheme: str, host: str) -> list[tuple[str, str]]:
        """Return the fields without those in ``_REPLACED``, plus the extended forwarding chains."""
        chain: list[str] = []
        forwarded: list[str] = []
        proto = forwarded_host = None
        items: list[tuple[str, str]] = []
        for name, value in headers.items:
            if name not in _REPLACED:
                items.append((name, value))
            elif name == "x-forwarded-for" and value.strip():
                chain.append(value.strip())
            elif name == "forwarded" and value.strip():
                forwarded.append(value.strip())
            elif name == "x-forwarded-proto" and proto is None:
                proto = value
            elif name == "x-forwarded-host" and forwarded_host is None:
                forwarded_host = value
        chain.append(peer_ip)
        forwarded.append(forwarded_element(peer_ip, scheme, host))
        items.append(("x-forwarded-for", ", ".join(chain)))
        items.append(("forwarded", ", ".join(forwarded)))
        items.append(("x-forwarded-proto", proto if proto in ("http", "https") else scheme))
        items.append(("x-forwarded-host", forwarded_host or host))
        return items


def _forwarded_for_chain(headers: Headers) -> list[str]:
    chain: list[str] = []
    for value in headers.get_all("x-forwarded-for"):
        chain.extend(part.strip() for part in value.split(",") if part.strip())
    if not chain:
        for value in headers.get_all("forwarded"):
            chain.extend(_forwarded_for_values(value))
    return chain


def _forwarded_for_values(value: str) -> list[str]:
    """Return the ``for=`` values of a ``Forwarded`` field, in order.

    Pairs are read one after the other, so a ``for=`` inside a quoted value (for example in a
    client-chosen ``host="x;for=1.2.3.4"``) is not taken. Reading stops at the first malformed
    pair and appends an empty value there, which ends the right-to-left walk of ``client_ip``
    because nothing after that point can be read.
    """
    values: list[str] = []
    position = 0
    while position < len(value):
        found = _FORWARDED_PAIR.match(value, position)
        if found is None or found.end() == position:
            if value[position:].strip(" \t;,"):
                values.append("")
            break
        if found.group(1).lower() == "for":
            values.append(found.group(2))
        position = found.end()
    return values


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _untrusted_fields(client_ip: str, scheme: str, host: str) -> tuple[tuple[str, str], ...]:
    """Build the forwarding fields for a request from an untrusted peer, memoised per client."""
    return (
        ("x-forwarded-for", client_ip),
        ("x-forwarded-proto", scheme),
        ("x-forwarded-host", host),
        ("forwarded", forwarded_element(client_ip, scheme, host)),
        ("x-real-ip", client_ip),
    )


class _RequestIds:
    """Request ids: 32 hex digits, a random 68-bit prefix per process and a 60-bit counter.

    An id only has to be unique, not secret, so a counter replaces a random read (a system
    call) per request. The prefix is drawn again in a forked child, so workers never share ids.
    The counter runs between 2**60 and 2**61, so ``hex()`` always gives "0x1" and then exactly
    15 digits, and it stays a machine-sized integer in the compiled build. Both cost a fraction
    of a zero-padded format of a larger number.
    """

    def __init__(self) -> None:
        self.prefix = ""
        self.counter = _COUNTER_START
        self.reseed()

    def reseed(self) -> None:
        self.prefix = os.urandom(9).hex()[:17]
        self.counter = _COUNTER_START + int.from_bytes(os.urandom(4), "big")

    def next(self) -> str:
        counter = self.counter + 1
        if counter >= _COUNTER_END:
            counter = _COUNTER_START
        self.counter = counter
        return self.prefix + hex(counter)[3:]


_COUNTER_START = 1 << 60
_COUNTER_END = 1 << 61
_request_ids = _RequestIds()
os.register_at_fork(after_in_child=_request_ids.reseed)
new_request_id = _request_ids.next


def forwarded_element(for_address: str, scheme: str, host: str) -> str:
    """Build one RFC 7239 ``Forwarded`` element, quoting IPv6 as ``"[v6]"``."""
    node = f'"[{for_address}]"' if ":" in for_address else for_address
    return f"for={node};host={_quote_value(host)};proto={_quote_value(scheme)}"


@functools.lru_cache(maxsize=1024)
def _quote_value(value: str) -> str:
    if _TOKEN.fullmatch(value):
        return value
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'
