"""Measure the WAF engine's CPU time per request on the gateway benchmark's two workloads.

Usage: .venv/bin/python bench/waf_cost.py [--rounds N]
The GET and the 1 KB JSON POST match the requests of the shared gateway benchmark (same path,
headers and body shape). Prints microseconds per request for the head inspection, the body
inspection and both, as the median of several rounds.
"""

from __future__ import annotations

import argparse
import statistics
import time

from gateway_python_cost import order_body

from apiward.waf.engine import Engine, Settings
from apiward.waf.request import HttpRequest

HEADERS = [
    ("host", "api.example.test"),
    ("user-agent", "bench-client/1.0"),
    ("accept", "application/json"),
    (
        "authorization",
        "Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
        "eyJzdWIiOiJ1c2VyLTQyIiwic2NvcGUiOiJpdGVtczpyZWFkIG9yZGVyczp3cml0ZSIsImlhdCI6MTc2NzIyNTYwMCwiZXhwIjoxODkzNDU2MDAwfQ."
        "aVuQCMybl1dpnHexWK-dJOA6rK2zvdaRzNg_ogUyI2g",
    ),
    ("x-request-id", "6f1c2b8e-5d0a-4c1e-9a57-3b2f8e4d7c10"),
]


def per_request_us(action: object, count: int) -> float:
    assert callable(action)
    started = time.perf_counter()
    for _ in range(count):
        action()
    return (time.perf_counter() - started) * 1e6 / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--paranoia", type=int, default=1)
    arguments = parser.parse_args()
    engine = Engine(Settings(paranoia=arguments.paranoia))
    get = HttpRequest("GET", "/api/v1/items/42", "sort=asc&limit=10", HEADERS)
    post_headers = [*HEADERS, ("content-type", "application/json")]
    post = HttpRequest("POST", "/api/v1/orders", "", post_headers, order_body())
    assert len(post.body) == 1024
    cases = {
        "GET head": lambda: engine.inspect(get, body=False, report_fields=False),
        "POST head": lambda: engine.inspect(post, body=False, report_fields=False),
        "POST body (1 KB JSON)": lambda: engine.inspect_body(post, report_fields=False),
        "POST head + body": lambda: engine.inspect(post, report_fields=False),
    }
    for name, action in cases.items():
        samples = [per_request_us(action, arguments.count) for _ in range(arguments.rounds)]
        median = statistics.median(samples)
        print(f"{name:24s} {median:7.1f} us  (min {min(samples):.1f}, max {max(samples):.1f})")


if __name__ == "__main__":
    main()
