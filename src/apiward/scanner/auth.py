"""The auth file (format in this package's README.md) and the identities built from it.

An :class:`Identity` sends requests with its credentials. Identities that log in replay the
login request when they have no token, when the token's ``exp`` has passed, and once after a
401, so a scan outlives short token lifetimes.
"""

from __future__ import annotations

import secrets
import time
from pathlib import Path
from typing import Any

import jwt
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from apiward.scanner.client import Response, ScanClient
from apiward.scanner.errors import TargetError, UsageError

ANONYMOUS = "anonymous"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LoginConfig(_Model):
    method: str = "POST"
    path: str
    username_field: str = "username"
    password_field: str = "password"  # noqa: S105  (a field name)
    token_path: str = Field("access_token", description="Dotted path of the token in the JSON response.")
    header: str = "Authorization"
    scheme: str = "Bearer"
    body: dict[str, Any] = Field(default_factory=dict, description="Extra fields sent with every login.")


class RegisterConfig(_Model):
    method: str = "POST"
    path: str
    body: dict[str, Any] = Field(default_factory=dict)
    max_accounts: int = Field(8, ge=1, le=50, description="Throwaway accounts one scan may create.")


class IdentityConfig(_Model):
    username: str | None = None
    password: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    roles: list[str] = Field(default_factory=list)
    owns: dict[str, list[str]] = Field(default_factory=dict)


class FlowStep(_Model):
    method: str
    path: str
    json_body: Any = Field(None, alias="json")


class FlowConfig(_Model):
    name: str
    identity: str
    repeat: int = Field(5, ge=2, le=50)
    steps: list[FlowStep] = Field(min_length=1)


class AuthFile(_Model):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    login: LoginConfig | None = None
    # Named with a trailing underscore because BaseModel.register (from ABCMeta) exists.
    register_: RegisterConfig | None = Field(None, alias="register")
    identities: dict[str, IdentityConfig] = Field(default_factory=dict)
    dangerous: list[str] = Field(default_factory=list)
    flows: list[FlowConfig] = Field(default_factory=list)
    values: dict[str, Any] = Field(default_factory=dict)
    jwt_secret: str | None = Field(None, description="HMAC key of the target's tokens, when known.")


def load_auth_file(path: Path | None) -> AuthFile:
    """Read and validate an auth file; no file means only the anonymous identity."""
    if path is None:
        return AuthFile()
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as error:
        raise UsageError(f"cannot read auth file {path}: {error.strerror}") from None
    except yaml.YAMLError as error:
        raise UsageError(f"invalid auth file {path}: {error}") from None
    try:
        auth = AuthFile.model_validate(raw)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise UsageError(f"invalid auth file {path}: {where}: {first['msg']}") from None
    for name, identity in auth.identities.items():
        if identity.username is not None and auth.login is None:
            raise UsageError(
                f"invalid auth file {path}: identity {name!r} has a username but no 'login' block"
            )
    for flow in auth.flows:
        if flow.identity not in auth.identities and flow.identity != ANONYMOUS:
            raise UsageError(
                f"invalid auth file {path}: flow {flow.name!r} names unknown identity {flow.identity!r}"
            )
    return auth


def dig(document: Any, dotted: str) -> Any:
    """Return the value at a dotted path (``data.token``) in parsed JSON, or None."""
    node = document
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


class Identity:
    """One caller of the target: anonymous, static headers, or a login."""

    def __init__(
        self,
        name: str,
        config: IdentityConfig,
        login: LoginConfig | None,
        client: ScanClient,
        throwaway: bool = False,
    ) -> None:
        self.name = name
        self.config = config
        self.login_config = login
        self.client = client
        self.throwaway = throwaway
        self.token: str | None = None

    @property
    def anonymous(self) -> bool:
        return self.config.username is None and not self.config.headers

    @property
    def admin(self) -> bool:
        return "admin" in self.config.roles

    @property
    def username(self) -> str | None:
        return self.config.username

    def auth_headers(self) -> dict[str, str]:
        headers = dict(self.config.headers)
        if self.config.username is not None and self.login_config is not None:
            if self.token is None or self._expired():
                self.log_in()
            assert self.token is not None
            prefix = f"{self.login_config.scheme} " if self.login_config.scheme else ""
            headers[self.login_config.header] = prefix + self.token
        return headers

    def _expired(self) -> bool:
        try:
            claims = jwt.decode(self.token or "", options={"verify_signature": False})
        except jwt.PyJWTError:
            return False
        expiry = claims.get("exp")
        return isinstance(expiry, int | float) and expiry < time.time() + 2

    def log_in(self) -> None:
        """Replay the login request and keep the token, raising TargetError when it fails."""
        response = login_request(
            self.client, self.login_config, self.config.username or "", self.config.password or ""
        )
        token = dig(response.json(), self.login_config.token_path) if self.login_config else None
        if not response.ok or not isinstance(token, str) or not token:
            raise TargetError(
                f"login of identity {self.name!r} failed: status {response.status}, "
                f"no token at {self.login_config.token_path if self.login_config else '?'!r}"
            )
        self.token = token

    def send(self, method: str, path: str, **kwargs: Any) -> Response:
        """Send a request with this identity's credentials; log in again once after a 401."""
        extra = kwargs.pop("headers", None) or {}
        response = self.client.send(method, path, headers={**self.auth_headers(), **extra}, **kwargs)
        if response.status == 401 and self.config.username is not None and self.token is not None:
            try:
                self.log_in()
            except TargetError:
                # A check may have changed this account's password on purpose, so the 401 is the result.
                return response
            response = self.client.send(method, path, headers={**self.auth_headers(), **extra}, **kwargs)
        return response


def login_request(client: ScanClient, login: LoginConfig | None, username: str, password: str) -> Response:
    """Send the login request for a username and password."""
    if login is None:
        raise UsageError("the auth file has no 'login' block")
    body = {**login.body, login.username_field: username, login.password_field: password}
    return client.send(login.method, login.path, json=body)


def register_account(client: ScanClient, auth: AuthFile) -> tuple[str, str, Response]:
    """Register a throwaway account with random credentials; return (username, password, response)."""
    if auth.register_ is None or auth.login is None:
        raise UsageError("the auth file has no 'register' and 'login' blocks")
    username = "aw" + secrets.token_hex(5)
    password = "Aw-" + secrets.token_urlsafe(12)
    body = {
        key: value.format(username=username, password=password) if isinstance(value, str) else value
        for key, value in auth.register_.body.items()
    }
    body[auth.login.username_field] = username
    body[auth.login.password_field] = password
    response = client.send(auth.register_.method, auth.register_.path, json=body)
    return username, password, response
