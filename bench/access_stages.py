"""CPU cost of the access-control stages on the hot path, measured through their request hooks.

Runs, in one process and without sockets:

- rate_limit (memory) plus authn (RS256 key from a PEM file, token already cached), per request;
- an uncached RS256 verification, for comparison;
- rate_limit on the Redis back end (127.0.0.1:6379, a unique key prefix), p50 and p99 latency
  of one sequential check.

Usage: .venv/bin/python bench/access_stages.py [--requests N] [--no-redis]
The numbers are CPU time (``time.process_time``) or wall time per call on this machine. They
leave out the proxy's own work, so compare them with a whole proxied request, not with rps.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from apiward.gateway.pipeline import Exchange, Headers, StageContext
from apiward.gateway.stages import build_stage
from apiward.policy.loader import parse_policy
from apiward.state import MemoryState, open_state

POLICY = """
listen: [{address: "127.0.0.1:8080"}]
upstreams: {app: {targets: ["127.0.0.1:9"]}}
routes:
  - name: api
    match: {path: /api/}
    upstream: app
    rate_limit: {limits: [{rate: 1000000000/s}]}
    authn: {jwt: {keys: [{algorithm: RS256, pem: file:bench-rsa.pem}]}}
"""


def build(directory: Path, state: Any) -> tuple[Any, Any]:
    policy = parse_policy(POLICY)
    route = policy.routes[0]
    context = StageContext(policy=policy, route=route, policy_dir=directory, state=state)
    rate_limit = build_stage("rate_limit", policy.stage_config(route, "rate_limit"), context)
    authn = build_stage("authn", policy.stage_config(route, "authn"), context)
    return rate_limit, authn


def new_exchange(headers: list[tuple[str, str]], client: str = "192.0.2.1") -> Exchange:
    return Exchange(request_id="bench", method="GET", path="/api/v1/items/42", query="sort=asc&limit=10",
                    headers=Headers(headers), client_ip=client, peer_ip=client)


def cpu_per_call(function: Any, count: int) -> float:
    for _ in range(min(count, 1000)):
        function()
    started = time.process_time()
    for _ in range(count):
        function()
    return (time.process_time() - started) / count * 1e6


async def redis_latency(directory: Path, count: int) -> tuple[float, float]:
    store = open_state(f"redis://127.0.0.1:6379/0?key_prefix=apiward-bench-{uuid.uuid4().hex}:")
    rate_limit, _ = build(directory, store)
    samples = []
    for index in range(count):
        exchange = new_exchange([], f"192.0.2.{index % 200}")
        started = time.perf_counter()
        await rate_limit.request_head(exchange)
        samples.append(time.perf_counter() - started)
    await store.close()
    samples = sorted(samples[count // 10:])
    return samples[len(samples) // 2] * 1e6, samples[int(len(samples) * 0.99)] * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=100_000, help="Calls per measurement.")
    parser.add_argument("--no-redis", action="store_true", help="Skip the Redis latency measurement.")
    options = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="apiward-bench-") as name:
        run(Path(name), options.requests, not options.no_redis)


def run(directory: Path, requests: int, with_redis: bool) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (directory / "bench-rsa.pem").write_bytes(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo,
    ))
    token = jwt.encode({"sub": "user-42", "exp": int(time.time()) + 3600}, key, algorithm="RS256")
    headers = [("host", "api.example.test"), ("user-agent", "bench-client/1.0"),
               ("accept", "application/json"), ("authorization", f"Bearer {token}")]
    rate_limit, authn = build(directory, MemoryState())

    def baseline() -> None:
        new_exchange(headers)

    def both() -> None:
        exchange = new_exchange(headers)
        if rate_limit.request_head(exchange) is not None or authn.request_head(exchange) is not None:
            raise RuntimeError("the benchmark request was denied")

    def uncached() -> None:
        authn.verifier.cache.clear()
        authn.verifier.verify(token)

    base = cpu_per_call(baseline, requests)
    total = cpu_per_call(both, requests)
    print(f"rate_limit (memory) + authn (RS256, cached): {total - base:.2f} us CPU per request "
          f"({total:.2f} including {base:.2f} to build the Exchange)")
    print(f"RS256 verification without the token cache: {cpu_per_call(uncached, 2000):.1f} us CPU")
    if with_redis:
        p50, p99 = asyncio.run(redis_latency(directory, 5000))
        print(f"rate_limit (redis, sequential): p50 {p50:.0f} us, p99 {p99:.0f} us per check")


if __name__ == "__main__":
    main()
