"""Sign-up and the three ways to get a token: password login, API-key login, and nothing else."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, HTTPException, Request
from pydantic import BaseModel, Field

from apiward.lab.context import Lab
from apiward.lab.matcher import UnknownOperatorError, matches
from apiward.lab.store import check_password
from apiward.lab.tokens import TOKEN_LIFETIME_SECONDS


class LoginRequest(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class SignupRequest(BaseModel):
    username: str = Field(min_length=3, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    password: str = Field(min_length=8, max_length=256)
    email: str = Field(min_length=3, max_length=254)


class TokenResponse(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int = TOKEN_LIFETIME_SECONDS


class ApiKeyLoginRequest(BaseModel):
    username: str = Field(description="Account name.")
    api_key: str = Field(description="The account's API key (ak_...).")


def _token_for(lab: Lab, user: dict[str, Any]) -> TokenResponse:
    return TokenResponse(access_token=lab.tokens.issue(user["username"], user["role"]))


def _reject_login(lab: Lab, username: str, user_exists: bool) -> HTTPException:
    lab.failed_logins.add(username)
    if lab.is_open("user-enumeration"):
        if not user_exists:
            return HTTPException(404, detail="unknown user")
        return HTTPException(401, detail="wrong password")
    return HTTPException(401, detail="invalid username or password")


def requested_role(raw: dict[str, Any]) -> str | None:
    """Return the role a request body requests through ``role`` or ``is_admin`` (mass assignment)."""
    if raw.get("is_admin") is True:
        return "admin"
    role = raw.get("role")
    return role if isinstance(role, str) and role in {"user", "admin"} else None


router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


@router.post("/login", response_model=TokenResponse, summary="Exchange a user name and password for a token")
def login(lab: Lab, credentials: LoginRequest) -> TokenResponse:
    username = credentials.username
    if not lab.is_open("login-no-throttle") and lab.failed_logins.exceeded(username):
        raise HTTPException(
            429, detail="too many failed logins; try again later", headers={"Retry-After": "60"}
        )

    user = lab.store.user_by_name(username)
    if user is None or not check_password(credentials.password, user["password_hash"]):
        raise _reject_login(lab, username, user is not None)

    lab.failed_logins.clear(username)
    return _token_for(lab, user)


@router.post("/signup", status_code=201, response_model=TokenResponse, summary="Create an account")
async def signup(lab: Lab, request: Request, account: SignupRequest) -> TokenResponse:
    if lab.store.user_by_name(account.username) is not None:
        raise HTTPException(409, detail=f"user name {account.username!r} is taken")

    role = "user"
    if lab.is_open("mass-assignment"):
        # The hole: fields the schema does not declare are read from the raw body and stored.
        raw = await request.json()
        role = requested_role(raw) or role
    lab.store.create_user(account.username, account.password, account.email, role)

    user = lab.store.user_by_name(account.username)
    assert user is not None
    return _token_for(lab, user)


@router.post(
    "/api-key-login",
    response_model=TokenResponse,
    summary="Exchange a user name and API key for a token",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": ApiKeyLoginRequest.model_json_schema()}},
        }
    },
)
def api_key_login(lab: Lab, body: dict[str, Any] = Body(include_in_schema=False)) -> TokenResponse:
    try:
        request = ApiKeyLoginRequest.model_validate(body)
        query: dict[str, Any] = request.model_dump()
    except ValueError:
        if not lab.is_open("nosqli"):
            raise HTTPException(422, detail="username and api_key must be strings") from None
        # The hole: the client's JSON goes into the filter as it came, operators included.
        query = {"username": body.get("username"), "api_key": body.get("api_key")}

    try:
        found = [user for user in lab.store.users() if matches(query, user)]
    except UnknownOperatorError as error:
        raise HTTPException(400, detail=str(error)) from error
    if not found:
        raise HTTPException(401, detail="invalid username or API key")
    return _token_for(lab, found[0])
