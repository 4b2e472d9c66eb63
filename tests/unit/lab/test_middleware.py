"""The lab's middleware: body cap on chunked uploads, error boundary, CORS preflight."""

from __future__ import annotations

from collections.abc import AsyncIterator

from lab_helpers import lab_client

from apiward.lab.middleware import MAX_BODY_BYTES


async def chunked_feedback(chunks: int) -> AsyncIterator[bytes]:
    yield b'{"message": "'
    for _ in range(chunks):
        yield b"A" * 4096
    yield b'"}'


async def test_fixed_body_cap_counts_chunks() -> None:
    async with lab_client(fixed=True) as client:
        response = await client.post(
            "/api/v1/feedback", content=chunked_feedback(40), headers={"Content-Type": "application/json"}
        )
    assert response.status_code == 413
    assert response.json()["detail"] == f"request body is larger than {MAX_BODY_BYTES} bytes"


async def test_fixed_body_cap_allows_small_chunks() -> None:
    async with lab_client(fixed=True) as client:
        response = await client.post(
            "/api/v1/feedback", content=chunked_feedback(0), headers={"Content-Type": "application/json"}
        )
    assert response.status_code == 422
    assert "at least 1 character" in response.text


async def test_fixed_body_cap_invalid_length() -> None:
    async with lab_client(fixed=True) as client:
        response = await client.post(
            "/api/v1/feedback",
            content=b"{}",
            headers={"Content-Type": "application/json", "Content-Length": "x"},
        )
    assert response.status_code == 413


async def test_fixed_error_hides_traceback() -> None:
    async with lab_client(fixed={"stack-trace"}) as client:
        client.app.state.lab.store.close()  # type: ignore[attr-defined]
        response = await client.get("/api/v1/products/1/price")
    assert response.status_code == 500
    assert response.json() == {"detail": "internal server error"}


async def test_open_cors_answers_preflight() -> None:
    headers = {"Origin": "https://attacker.invalid", "Access-Control-Request-Method": "DELETE"}
    async with lab_client() as client:
        response = await client.options("/api/v1/admin/users/2", headers=headers)
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == "https://attacker.invalid"
    assert response.headers["access-control-allow-credentials"] == "true"


async def test_fixed_cors_sends_nothing() -> None:
    async with lab_client(fixed=True) as client:
        response = await client.get("/api/v1/products", headers={"Origin": "https://attacker.invalid"})
    assert "access-control-allow-origin" not in response.headers
    assert response.headers["x-frame-options"] == "DENY"
