"""The URL fetch behind the SSRF hole, fenced so the lab can only ever reach loopback.

Even with the ``ssrf`` hole open the fetch connects to an address from 127.0.0.0/8 or ::1 and to
nothing else: the host must be an IP literal or ``localhost``. Other names are rejected without
being resolved, so no DNS answer (rebinding included) can point the lab at another machine, and
the client connects to the checked address itself rather than to a name.
"""

from __future__ import annotations

import ipaddress

import httpx

FETCH_TIMEOUT_SECONDS = 3.0
MAX_FETCH_BYTES = 64 * 1024


class DestinationRejected(ValueError):
    """The URL may not be fetched; the message gives the reason in client-safe words."""


def checked_destination(url: str, allow_loopback: bool) -> tuple[httpx.URL, str]:
    """Return the URL rewritten to connect to a checked IP literal, and the original Host value.

    ``allow_loopback`` is True in the vulnerable lab. The fixed lab rejects loopback, private and
    other non-public addresses, and the loopback fence then rejects every public one, so the fixed
    lab fetches nothing at all.
    """
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as error:
        raise DestinationRejected(f"invalid URL {url!r}: {error}") from error
    if parsed.scheme not in {"http", "https"}:
        raise DestinationRejected(f"unsupported URL scheme {parsed.scheme!r}; use http or https")
    if not parsed.host:
        raise DestinationRejected(f"URL {url!r} has no host")

    host = "127.0.0.1" if parsed.host.lower() == "localhost" else parsed.host
    try:
        address = ipaddress.ip_address(host)
    except ValueError as error:
        raise DestinationRejected(
            f"host {parsed.host!r} is not an IP address; the lab resolves no names except localhost"
        ) from error

    if not allow_loopback and not address.is_global:
        raise DestinationRejected(f"destination {address} is not a public address")
    if not address.is_loopback:
        raise DestinationRejected(f"destination {address} is outside loopback; the lab never connects there")

    host_header = parsed.netloc.decode("ascii")
    return parsed.copy_with(host=str(address)), host_header


async def fetch(url: httpx.URL, host_header: str) -> tuple[int, str]:
    """GET ``url`` without proxies or redirects; return the status and the start of the body."""
    client = httpx.AsyncClient(trust_env=False, follow_redirects=False, timeout=FETCH_TIMEOUT_SECONDS)
    async with client, client.stream("GET", url, headers={"Host": host_header}) as response:
        body = b""
        async for chunk in response.aiter_bytes():
            body += chunk
            if len(body) >= MAX_FETCH_BYTES:
                break
    return response.status_code, body[:MAX_FETCH_BYTES].decode("utf-8", errors="replace")
