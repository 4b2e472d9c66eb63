"""Python CPU time of one proxied request, measured without sockets.

Feeds the benchmark's GET (or 1 KB POST) request and the upstream stub's response through the
real ClientConnection, Flow and UpstreamConnection objects, whose transports only count writes.
The kernel and uvloop work of a real request is left out, so the figure is the part that the
gateway's own code costs. The result varies much less with other load on the machine than the
wrk benchmark does, which makes it the better check of a hot-path change.

Usage: .venv/bin/python bench/gateway_python_cost.py [--policy FILE] [--requests N] [get] [post]
The default policy is bench/policies/core.yaml. Pin it to one CPU (``taskset -c 1``) for
steadier figures. It prints the best and median of 9 rounds in µs of process CPU time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import uvloop
from jwt_token import write_key_and_token

from apiward.gateway.compile import compile_policy
from apiward.gateway.runtime import Gateway
from apiward.gateway.server import ClientConnection
from apiward.gateway.upstream import UpstreamConnection
from apiward.policy.loader import load_policy

HERE = Path(__file__).resolve().parent
TOKEN = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1c2VyLTQyIiwic2NvcGUiOiJpdGVtczpyZWFkIG9yZGVy"
    "czp3cml0ZSIsImlhdCI6MTc2NzIyNTYwMCwiZXhwIjoxODkzNDU2MDAwfQ.aVuQCMybl1dpnHexWK-dJOA6rK2zvdaRzNg_ogUyI2g"
)


def order_body(size: int = 1024, serial: int = 0) -> bytes:
    """Return a JSON order of exactly ``size`` bytes, shaped like the wrk POST workload's body.

    A non-zero ``serial`` goes into every string value, so that orders with different serials
    share no string a memo could remember. It follows a period, which keeps the values out of the
    base64 alphabet as the plain values are.
    """
    tag = f".{serial}" if serial else ""
    items = [
        {"sku": f"SKU-{number:04d}{tag}", "qty": number % 3 + 1, "price": 9.5 + number, "gift_wrap": False}
        for number in range(1, 15)
    ]
    order = {
        "customer_id": f"c-1029384{tag}", "currency": f"EUR{tag}", "items": items,
        "shipping": {"name": f"Jane Doe{tag}", "street": f"1 Example Road{tag}", "city": f"Springfield{tag}",
                     "zip": f"12345{tag}", "country": f"DE{tag}"},
        "coupon": None, "comment": f"leave at door{tag}",
    }
    body = json.dumps(order, separators=(",", ":")).encode()
    if len(body) > size:
        raise ValueError(f"the order is {len(body)} bytes, more than {size}")
    # As in the wrk workload, spaces at the end of the last string value fill the body up.
    return body[:-2] + b" " * (size - len(body)) + b'"}'


def build_requests(token: str, item: int = 42) -> dict[str, bytes]:
    """Return the benchmark's GET and 1 KB POST with ``token`` as the bearer token."""
    fields = (
        "Host: api.example.test\r\nUser-Agent: bench-client/1.0\r\nAccept: application/json\r\n"
        f"Authorization: Bearer {token}\r\nX-Request-Id: 6f1c2b8e-5d0a-4c1e-9a57-3b2f8e4d7c10\r\n"
    )
    body = order_body()
    return {
        "get": f"GET /api/v1/items/{item}?sort=asc&limit=10 HTTP/1.1\r\n{fields}\r\n".encode(),
        "post": (f"POST /api/v1/orders HTTP/1.1\r\n{fields}Content-Type: application/json\r\n"
                 f"Content-Length: {len(body)}\r\n\r\n").encode() + body,
    }


def unique_posts(token: str, count: int) -> list[bytes]:
    """Return ``count`` 1 KB POSTs whose bodies share no string value, so no memo ever hits."""
    fields = (
        "Host: api.example.test\r\nUser-Agent: bench-client/1.0\r\nAccept: application/json\r\n"
        f"Authorization: Bearer {token}\r\nX-Request-Id: 6f1c2b8e-5d0a-4c1e-9a57-3b2f8e4d7c10\r\n"
        "Content-Type: application/json\r\nContent-Length: 1536\r\n\r\n"
    ).encode()
    head = b"POST /api/v1/orders HTTP/1.1\r\n" + fields
    return [head + order_body(1536, number) for number in range(1_000_000, 1_000_000 + count)]


def unique_gets(token: str, count: int) -> list[bytes]:
    """Return ``count`` GETs that differ in the item id and a query value, so no memo ever hits."""
    return [
        f"GET /api/v1/items/{number}?sort=asc&limit={number} HTTP/1.1\r\nHost: api.example.test\r\n"
        f"User-Agent: bench-client/1.0\r\nAccept: application/json\r\nAuthorization: Bearer {token}\r\n"
        f"X-Request-Id: 6f1c2b8e-5d0a-4c1e-9a57-3b2f8e4d7c10\r\n\r\n".encode()
        for number in range(1_000_000, 1_000_000 + count)
    ]


REQUESTS = build_requests(TOKEN)
BODY = b'{"id":42,"name":"widget","price":9.99,"tags":["a","b"],"in_stock":true}\n'
RESPONSE = (
    b"HTTP/1.1 200 OK\r\nServer: nginx\r\nDate: Fri, 04 Dec 2026 21:00:00 GMT\r\n"
    b"Content-Type: application/json\r\nContent-Length: %d\r\nConnection: keep-alive\r\n\r\n" % len(BODY)
) + BODY
ROUNDS = 9
WARM_UP = 2000


class CountingTransport:
    """A transport that drops what is written and counts the writes."""

    def __init__(self) -> None:
        self.writes = 0

    def write(self, data: bytes) -> None:
        self.writes += 1

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 40000) if name == "peername" else default

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def close(self) -> None:
        pass

    def abort(self) -> None:
        pass


async def measure(policy_path: Path, sequence: list[bytes], requests: int) -> list[float]:
    """Return the µs of process CPU time per request of each round, sending ``sequence`` in turn."""
    gateway = Gateway(policy_path, watch=False)
    gateway.loop = asyncio.get_running_loop()
    gateway.compiled = compile_policy(load_policy(policy_path), policy_path)
    await gateway.compiled.start()
    # The benchmark policies have one upstream with one target.
    pool = next(iter(gateway.compiled.pools.values()))
    target = pool.targets[0]
    upstream = UpstreamConnection(pool, target)
    upstream.connection_made(CountingTransport())  # type: ignore[arg-type]
    target.idle.append(upstream)
    client = ClientConnection(gateway, "http")
    transport = CountingTransport()
    client.connection_made(transport)  # type: ignore[arg-type]
    position = 0

    def one() -> None:
        nonlocal position
        client.data_received(sequence[position])
        position = (position + 1) % len(sequence)
        upstream.data_received(RESPONSE)

    for _ in range(WARM_UP):
        one()
    if transport.writes != WARM_UP:
        raise SystemExit(f"expected one response write per request, got {transport.writes} for {WARM_UP}")
    rounds = []
    for _ in range(ROUNDS):
        started = time.process_time()
        for _ in range(requests):
            one()
        rounds.append((time.process_time() - started) / requests * 1e6)
    await gateway.compiled.close()
    return sorted(rounds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "workloads", nargs="*",
        help="get, post (the default is both), get-unique (GETs that all differ in the item id and a "
             "query value) or post-unique (1.5 KB POSTs whose bodies share no string value), on which "
             "no memo in the gateway or the WAF can hit",
    )
    parser.add_argument("--policy", type=Path, default=HERE / "policies" / "core.yaml")
    parser.add_argument("--requests", type=int, default=20_000, help="requests per round")
    args = parser.parse_args()
    unknown = set(args.workloads) - {*REQUESTS, "get-unique", "post-unique"}
    if unknown:
        expected = "get, post, get-unique or post-unique"
        parser.error(f"unknown workload {sorted(unknown)[0]!r}; expected {expected}")
    with tempfile.TemporaryDirectory() as directory:
        # The benchmark policies carry port placeholders. Nothing listens here, so any port fits.
        policy = Path(directory) / "policy.yaml"
        text = args.policy.read_text().replace("@PORT@", "19099").replace("@ADMIN_PORT@", "19199")
        token = TOKEN
        if "@JWT_PUBLIC_KEY@" in text:
            # The access profiles verify RS256 tokens: make a key and send a token it verifies.
            token = write_key_and_token(Path(directory))
            text = text.replace("@JWT_PUBLIC_KEY@", str(Path(directory) / "jwt-public.pem"))
            REQUESTS.update(build_requests(token))
        policy.write_text(text)
        for workload in args.workloads or ["get", "post"]:
            if workload == "get-unique":
                sequence = unique_gets(token, WARM_UP + ROUNDS * args.requests)
            elif workload == "post-unique":
                sequence = unique_posts(token, WARM_UP + ROUNDS * args.requests)
            else:
                sequence = [REQUESTS[workload]]
            rounds = uvloop.run(measure(policy, sequence, args.requests))
            print(f"{workload}: best {rounds[0]:.2f} µs, median {rounds[ROUNDS // 2]:.2f} µs per request")


if __name__ == "__main__":
    main()
