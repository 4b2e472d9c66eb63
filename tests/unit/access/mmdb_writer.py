"""A minimal MaxMind DB (format 2.0) writer, enough to build tiny country databases for tests.

It writes an IPv6 search tree with 24-bit records (IPv4 networks live under ::/96, where
readers look them up) followed by the data section and the metadata map, as the MaxMind DB
specification (maxmind.github.io/MaxMind-DB) lays out.
"""

from __future__ import annotations

import ipaddress
import time
from pathlib import Path
from typing import Any

METADATA_MARKER = b"\xab\xcd\xefMaxMind.com"
_TYPE_STRING, _TYPE_MAP, _TYPE_UINT16, _TYPE_UINT32 = 2, 7, 5, 6
_TYPE_UINT64, _TYPE_ARRAY = 9, 11


def _control(type_id: int, size: int) -> bytes:
    if size < 29:
        first, extra = size, b""
    elif size < 285:
        first, extra = 29, bytes([size - 29])
    elif size < 65821:
        first, extra = 30, (size - 285).to_bytes(2, "big")
    else:
        first, extra = 31, (size - 65821).to_bytes(3, "big")
    if type_id <= 7:
        return bytes([(type_id << 5) | first]) + extra
    return bytes([first, type_id - 7]) + extra


class Uint32(int):
    """An integer that must be stored as uint32 (libmaxminddb checks the metadata's types)."""


class Uint64(int):
    """An integer that must be stored as uint64."""


def _uint(value: int) -> bytes:
    return value.to_bytes((value.bit_length() + 7) // 8, "big") if value else b""


def encode(value: Any) -> bytes:
    """Encode a str, non-negative int, list or dict as a data-section field."""
    if isinstance(value, Uint64):
        return _control(_TYPE_UINT64, len(_uint(value))) + _uint(value)
    if isinstance(value, Uint32):
        return _control(_TYPE_UINT32, len(_uint(value))) + _uint(value)
    if isinstance(value, str):
        data = value.encode()
        return _control(_TYPE_STRING, len(data)) + data
    if isinstance(value, dict):
        return _control(_TYPE_MAP, len(value)) + b"".join(encode(k) + encode(v) for k, v in value.items())
    if isinstance(value, list):
        return _control(_TYPE_ARRAY, len(value)) + b"".join(encode(item) for item in value)
    if isinstance(value, int):
        if value < 2**16:
            type_id = _TYPE_UINT16
        elif value < 2**32:
            type_id = _TYPE_UINT32
        else:
            type_id = _TYPE_UINT64
        return _control(type_id, len(_uint(value))) + _uint(value)
    raise TypeError(f"cannot encode {type(value).__name__}")


def _bits(network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> tuple[int, int]:
    if network.version == 4:
        return int(network.network_address), 96 + network.prefixlen
    return int(network.network_address), network.prefixlen


def write_mmdb(path: Path, records: dict[str, dict[str, Any]]) -> Path:
    """Write ``records`` (CIDR -> data map) as a MaxMind DB at ``path``."""
    tree: dict[str, Any] = {}
    data = bytearray()
    for cidr, record in records.items():
        offset = len(data)
        data += encode(record)
        address, prefix = _bits(ipaddress.ip_network(cidr))
        node = tree
        for depth in range(prefix):
            bit = (address >> (127 - depth)) & 1
            node = node.setdefault(bit, {})
        node.clear()
        node["data"] = offset
    nodes: list[dict[str, Any]] = []

    def number(node: dict[str, Any]) -> None:
        node["id"] = len(nodes)
        nodes.append(node)
        for bit in (0, 1):
            child = node.get(bit)
            if child is not None and "data" not in child:
                number(child)

    number(tree)
    count = len(nodes)

    def record_value(child: dict[str, Any] | None) -> int:
        if child is None:
            return count
        if "data" in child:
            return count + 16 + child["data"]
        return int(child["id"])

    out = bytearray()
    for node in nodes:
        out += record_value(node.get(0)).to_bytes(3, "big") + record_value(node.get(1)).to_bytes(3, "big")
    out += bytes(16) + data + METADATA_MARKER
    out += encode({
        "binary_format_major_version": 2, "binary_format_minor_version": 0,
        "build_epoch": Uint64(int(time.time())), "database_type": "apiward-test-country",
        "description": {"en": "test database"}, "ip_version": 6, "languages": ["en"],
        "node_count": Uint32(count), "record_size": 24,
    })
    path.write_bytes(bytes(out))
    return path


__all__ = ["write_mmdb"]
