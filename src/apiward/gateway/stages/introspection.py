"""OAuth2 token introspection (RFC 7662) with a cache bounded by the token's ``exp``."""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson

from apiward.gateway.pipeline import Identity
from apiward.gateway.stages.jwt_verify import string_set
from apiward.policy.stages.authn import IntrospectionConfig
from apiward.policy.stages.secrets import read_secret

log = logging.getLogger("apiward.gateway.authn")

MAX_RESPONSE_BYTES = 64 * 1024


class IntrospectionError(Exception):
    """The introspection request failed or returned an invalid response."""


@dataclass(slots=True)
class _CachedResult:
    identity: Identity | None
    deadline: float


class Introspector:
    """Ask the authorization server whether an opaque token is active, and cache the response."""

    def __init__(self, config: IntrospectionConfig, policy_dir: Path | None) -> None:
        self.config = config
        secret = read_secret(config.client_secret, policy_dir).decode().strip()
        self.auth = httpx.BasicAuth(config.client_id, secret)
        self.cache: dict[bytes, _CachedResult] = {}
        self.requests = 0
        self._client: httpx.AsyncClient | None = None

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def check(self, token: str) -> Identity | None:
        """Return the identity of an active token, None for an inactive one; raise IntrospectionError."""
        digest = hashlib.sha256(token.encode("utf-8", "surrogateescape")).digest()
        now = time.time()
        cached = self.cache.get(digest)
        if cached is not None and cached.deadline > now:
            return cached.identity
        document = await self._ask(token)
        identity, deadline = self._read(document, now)
        self._remember(digest, _CachedResult(identity, deadline))
        return identity

    async def _ask(self, token: str) -> dict[str, Any]:
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(self.config.timeout), follow_redirects=False, trust_env=False,
            )
        self.requests += 1
        try:
            response = await self._client.post(
                self.config.url, data={"token": token, "token_type_hint": "access_token"},
                auth=self.auth, headers={"accept": "application/json"},
            )
        except httpx.HTTPError as error:
            raise IntrospectionError(f"introspection request failed: {type(error).__name__}") from None
        if response.status_code != 200 or len(response.content) > MAX_RESPONSE_BYTES:
            raise IntrospectionError(f"introspection request failed with status {response.status_code}")
        try:
            document = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            raise IntrospectionError("introspection response is not JSON") from None
        if not isinstance(document, dict) or not isinstance(document.get("active"), bool):
            raise IntrospectionError('introspection response has no boolean "active"')
        return document

    def _read(self, document: dict[str, Any], now: float) -> tuple[Identity | None, float]:
        latest = now + self.config.cache_ttl
        if not document["active"]:
            return None, latest
        expires = document.get("exp")
        if isinstance(expires, int | float) and not isinstance(expires, bool):
            if expires <= now:
                return None, latest
            latest = min(latest, float(expires))
        subject = document.get("sub") or document.get("username") or document.get("client_id")
        if not isinstance(subject, str) or not subject:
            return None, latest
        client_id = document.get("client_id")
        identity = Identity(
            subject=subject,
            consumer=client_id if isinstance(client_id, str) else None,
            scopes=string_set(document.get("scope")),
            roles=string_set(document.get("roles")),
            claims=document,
            method="introspection",
        )
        return identity, latest

    def _remember(self, digest: bytes, result: _CachedResult) -> None:
        if self.config.cache_size == 0:
            return
        if len(self.cache) >= self.config.cache_size:
            del self.cache[next(iter(self.cache))]
        self.cache[digest] = result
