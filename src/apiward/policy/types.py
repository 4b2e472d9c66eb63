"""Value types shared by the policy models: durations, sizes, host:port addresses, CIDRs."""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Any

from pydantic import BeforeValidator, Field

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}
_SIZE = re.compile(r"^\s*(\d+)\s*(b|k|kb|kib|m|mb|mib|g|gb|gib)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {
    None: 1, "b": 1, "k": 1024, "kb": 1024, "kib": 1024,
    "m": 1024**2, "mb": 1024**2, "mib": 1024**2, "g": 1024**3, "gb": 1024**3, "gib": 1024**3,
}


def parse_duration(value: Any) -> float:
    """Parse seconds given as a number or a string such as ``"250ms"``, ``"10s"``, ``"5m"``."""
    if isinstance(value, bool):
        raise ValueError(f"expected a duration such as 10s or 500ms, got {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and (match := _DURATION.match(value)):
        seconds = float(match.group(1)) * _DURATION_UNITS[match.group(2)]
    else:
        raise ValueError(f"expected a duration such as 10s, 500ms, 5m or 1h, got {value!r}")
    if seconds < 0:
        raise ValueError(f"a duration cannot be negative, got {value!r}")
    return seconds


def parse_size(value: Any) -> int:
    """Parse a byte count given as an integer or a string such as ``"64KiB"`` or ``"10MB"``."""
    if isinstance(value, bool):
        raise ValueError(f"expected a size such as 1024, 64KiB or 10MiB, got {value!r}")
    if isinstance(value, int):
        size = value
    elif isinstance(value, str) and (match := _SIZE.match(value)):
        size = int(match.group(1)) * _SIZE_UNITS[match.group(2).lower() if match.group(2) else None]
    else:
        raise ValueError(f"expected a size such as 1024, 64KiB or 10MiB, got {value!r}")
    if size < 0:
        raise ValueError(f"a size cannot be negative, got {value!r}")
    return size


def parse_host_port(value: Any) -> tuple[str, int]:
    """Parse ``host:port`` or ``[v6]:port`` into a (host, port) pair."""
    if isinstance(value, tuple) and len(value) == 2:
        return str(value[0]), int(value[1])
    if not isinstance(value, str):
        raise ValueError(f"expected host:port such as 127.0.0.1:8080, got {value!r}")
    text = value.strip()
    if text.startswith("["):
        host, sep, port_text = text[1:].partition("]:")
    else:
        host, sep, port_text = text.rpartition(":")
    if not sep or not host or not port_text.isdigit():
        raise ValueError(f"expected host:port such as 127.0.0.1:8080 or [::1]:8080, got {value!r}")
    port = int(port_text)
    if not 0 < port < 65536:
        raise ValueError(f"port must be between 1 and 65535, got {port} in {value!r}")
    return host, port


def parse_network(value: Any) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """Parse a CIDR block or a single address (which becomes a /32 or /128)."""
    if isinstance(value, ipaddress.IPv4Network | ipaddress.IPv6Network):
        return value
    if not isinstance(value, str):
        raise ValueError(f"expected a CIDR block such as 203.0.113.0/24, got {value!r}")
    try:
        return ipaddress.ip_network(value.strip(), strict=False)
    except ValueError:
        raise ValueError(
            f"invalid CIDR block or address {value!r}; expected e.g. 203.0.113.0/24 or 2001:db8::/32"
        ) from None


Duration = Annotated[float, BeforeValidator(parse_duration), Field(ge=0)]
ByteSize = Annotated[int, BeforeValidator(parse_size), Field(ge=0)]
HostPort = Annotated[tuple[str, int], BeforeValidator(parse_host_port)]
Network = Annotated[ipaddress.IPv4Network | ipaddress.IPv6Network, BeforeValidator(parse_network)]
