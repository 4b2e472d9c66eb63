"""The three SQL injection signals and the time signal of command injection, open and fixed.

The exploit table uses one signal per hole; scanners also probe the others, so each is checked.
The time checks compare against a one-second sleep: the open lab cannot be faster than the
sleep, and the fixed lab has a margin of most of a second.
"""

from __future__ import annotations

import time

from lab_helpers import lab_client

SLEEP_ONE_SECOND = "' AND 0 UNION SELECT sleep(1), 'x', 0 --"


async def test_sqli_error_shown_when_open() -> None:
    async with lab_client() as client:
        response = await client.get("/api/v1/products/search", params={"q": "'"})
    assert response.status_code == 500
    assert response.json()["detail"].startswith("database error: unrecognized token")


async def test_sqli_error_absent_when_fixed() -> None:
    async with lab_client(fixed={"sqli"}) as client:
        response = await client.get("/api/v1/products/search", params={"q": "'"})
    assert response.status_code == 200
    assert response.json() == []


async def test_sqli_boolean_pair_when_open() -> None:
    async with lab_client() as client:
        true_case = await client.get("/api/v1/products/search", params={"q": "board' AND 1=1 --"})
        false_case = await client.get("/api/v1/products/search", params={"q": "board' AND 1=2 --"})
    assert len(true_case.json()) == 1
    assert false_case.json() == []


async def test_sqli_sleep_delays_when_open() -> None:
    async with lab_client() as client:
        start = time.perf_counter()
        response = await client.get("/api/v1/products/search", params={"q": SLEEP_ONE_SECOND})
        elapsed = time.perf_counter() - start
    assert response.status_code == 200
    assert elapsed >= 1.0


async def test_sqli_sleep_inert_when_fixed() -> None:
    async with lab_client(fixed={"sqli"}) as client:
        start = time.perf_counter()
        response = await client.get("/api/v1/products/search", params={"q": SLEEP_ONE_SECOND})
        elapsed = time.perf_counter() - start
    assert response.json() == []
    assert elapsed < 0.9


async def test_shell_sleep_delays_when_open() -> None:
    async with lab_client() as client:
        start = time.perf_counter()
        response = await client.post("/api/v1/tools/checksum", json={"text": "x; sleep 1"})
        elapsed = time.perf_counter() - start
    assert response.status_code == 200
    assert elapsed >= 1.0


async def test_shell_sleep_inert_when_fixed() -> None:
    async with lab_client(fixed={"os-command"}) as client:
        start = time.perf_counter()
        response = await client.post("/api/v1/tools/checksum", json={"text": "x; sleep 1"})
        elapsed = time.perf_counter() - start
    assert response.status_code == 200
    assert elapsed < 0.9
