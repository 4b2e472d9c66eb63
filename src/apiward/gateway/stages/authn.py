"""The ``authn`` stage: authenticate the caller by JWT, API key or token introspection.

A request carries at most one credential: a bearer token (``Authorization: Bearer``, or the
query parameter or cookie when the policy names one) or an API key. A verified caller's
:class:`~apiward.gateway.pipeline.Identity` is put on the exchange for authz, quota and logs.
A 401 carries ``WWW-Authenticate`` with an RFC 6750 error code; why a token failed goes only
to the SecurityEvent.

The stage is synchronous when every key is in the policy (no JWKS URL, no introspection), so
the common case costs no coroutine. Otherwise it awaits the JWKS refresh or the introspection.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qsl

from apiward.gateway.pipeline import Exchange, Identity, Stage, StageContext, Verdict
from apiward.gateway.stages.introspection import IntrospectionError, Introspector
from apiward.gateway.stages.jwt_keys import JwksCache, load_configured_key
from apiward.gateway.stages.jwt_verify import JwtVerifier, TokenError, UnknownKeyId
from apiward.policy.stages.authn import ApiKeyConfig, AuthnConfig

log = logging.getLogger("apiward.gateway.authn")

Credential = tuple[str, str]
"""(kind, value) with kind ``bearer`` or ``api_key``."""


class CredentialError(Exception):
    """The request carries credentials in a form the policy does not accept."""


class AuthnStage(Stage):
    """Common part of the synchronous and asynchronous variants."""

    name: ClassVar[str] = "authn"

    def __init__(self, config: AuthnConfig, context: StageContext) -> None:
        policy_dir = Path(context.policy_dir) if context.policy_dir is not None else None
        self.required = config.required
        self.realm = config.realm.replace('"', "")
        self.jwt_config = config.jwt
        self.verifier: JwtVerifier | None = None
        self.jwks: JwksCache | None = None
        if config.jwt is not None:
            keys = [load_configured_key(entry, policy_dir) for entry in config.jwt.keys]
            if config.jwt.jwks is not None:
                self.jwks = _shared_jwks(context, config.jwt.jwks)
            self.verifier = JwtVerifier(config.jwt, keys, self.jwks)
        self.introspector = (
            Introspector(config.introspection, policy_dir) if config.introspection is not None else None
        )
        self.api_keys = _api_key_table(config.api_key)
        self.api_key_config = config.api_key
        self.bearer_query = config.jwt.query if config.jwt is not None else None
        self.bearer_cookie = config.jwt.cookie if config.jwt is not None else None
        self.bearer_header = config.jwt.header if config.jwt is not None else True
        self.header_only = (
            self.bearer_header and not self.bearer_query and not self.bearer_cookie and config.api_key is None
        )
        """True when only the Authorization header may carry a credential, the common case."""

    async def start(self) -> None:
        if self.jwks is not None:
            await self.jwks.start()

    async def close(self) -> None:
        if self.jwks is not None:
            await self.jwks.close()
        if self.introspector is not None:
            await self.introspector.close()

    def _credential(self, exchange: Exchange) -> Credential | None:
        """Find the one credential of the request; raise CredentialError on several or a bad one."""
        bearer = self._authorization_bearer(exchange)
        if self.header_only:
            # No other place may carry a credential, so the request needs no list of them.
            if bearer == "":
                raise CredentialError("empty credential")
            return None if bearer is None else ("bearer", bearer)
        found: list[Credential] = [] if bearer is None else [("bearer", bearer)]
        if self.bearer_query or (self.api_key_config is not None and self.api_key_config.query):
            found.extend(self._query_credentials(exchange.query))
        if self.bearer_cookie:
            found.extend(("bearer", value) for value in _cookies(exchange, self.bearer_cookie))
        if self.api_key_config is not None:
            found.extend(("api_key", value) for value in exchange.headers.get_all(self.api_key_config.header))
        if len(found) > 1:
            raise CredentialError("more than one credential")
        if found and not found[0][1]:
            raise CredentialError("empty credential")
        return found[0] if found else None

    def _authorization_bearer(self, exchange: Exchange) -> str | None:
        """Return the token of an ``Authorization: Bearer`` header, or None.

        Raise CredentialError when the request has two Authorization headers.
        """
        authorization: str | None = None
        for name, value in exchange.headers.items:
            if name == "authorization":
                if authorization is not None:
                    raise CredentialError("more than one Authorization header")
                authorization = value
        if authorization is None or not self.bearer_header:
            return None
        if authorization.startswith("Bearer "):
            # The usual spelling, read without splitting off and lower-casing the scheme.
            return authorization[7:].strip()
        scheme, _, token = authorization.strip().partition(" ")
        return token.strip() if scheme.lower() == "bearer" else None

    def _query_credentials(self, query: str) -> list[Credential]:
        if not query:
            return []
        api_key_query = self.api_key_config.query if self.api_key_config is not None else None
        found = []
        for name, value in parse_qsl(query, keep_blank_values=True):
            if name == self.bearer_query:
                found.append(("bearer", value))
            elif name == api_key_query:
                found.append(("api_key", value))
        return found

    def _api_key(self, exchange: Exchange, key: str) -> Verdict | None:
        digest = hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()
        identity = self.api_keys.get(digest)
        if identity is None:
            return self._invalid("unknown API key")
        exchange.identity = identity
        return None

    def _anonymous(self) -> Verdict | None:
        if not self.required:
            return None
        return Verdict(
            401, "authentication_required", "Authentication is required.",
            headers=[("www-authenticate", f'Bearer realm="{self.realm}"')], category="API2:2023",
        )

    def _invalid(self, reason: str, status: int = 401, error: str = "invalid_token") -> Verdict:
        description = "The access token is invalid or has expired." if error == "invalid_token" else (
            "The request carries credentials in a form that is not accepted."
        )
        challenge = f'Bearer realm="{self.realm}", error="{error}", error_description="{description}"'
        return Verdict(
            status, error, description, headers=[("www-authenticate", challenge)],
            category="API2:2023", details={"reason": reason},
        )

    def _jwt(self, exchange: Exchange, token: str) -> Verdict | None:
        assert self.verifier is not None  # only called when jwt is configured
        try:
            exchange.identity = self.verifier.verify(token)
        except TokenError as error:
            # An UnknownKeyId lands here too: no key refresh is left to try, so the token is invalid.
            return self._invalid(error.reason)
        return None


    def _bearer_or_decision(self, exchange: Exchange) -> str | Verdict | None:
        """Settle the request without a bearer token, or return the token still to check.

        Returns a Verdict to deny, None when the request may go on (a valid API key, or an
        anonymous caller where authentication is optional), or the bearer token.
        """
        try:
            credential = self._credential(exchange)
        except CredentialError as error:
            return self._invalid(str(error), 400, "invalid_request")
        if credential is None:
            return self._anonymous()
        kind, value = credential
        if kind == "api_key":
            return self._api_key(exchange, value)
        if self.verifier is None and self.introspector is None:
            return self._invalid("bearer tokens are not configured")
        return value


class StaticAuthnStage(AuthnStage):
    """Keys and API keys all in the policy: no I/O, no coroutine."""

    def request_head(self, exchange: Exchange) -> Verdict | None:
        token = self._bearer_or_decision(exchange)
        if not isinstance(token, str):
            return token
        return self._jwt(exchange, token)


class RemoteAuthnStage(AuthnStage):
    """JWKS keys or introspection: may await the identity provider."""

    async def request_head(self, exchange: Exchange) -> Verdict | None:
        token = self._bearer_or_decision(exchange)
        if not isinstance(token, str):
            return token
        if self.introspector is not None:
            return await self._introspect(exchange, token)
        return await self._jwt_with_jwks(exchange, token)

    async def _jwt_with_jwks(self, exchange: Exchange, token: str) -> Verdict | None:
        assert self.verifier is not None and self.jwks is not None  # RemoteAuthnStage has one or the other
        await self.jwks.ensure_loaded()
        try:
            exchange.identity = self.verifier.verify(token)
            return None
        except UnknownKeyId:
            await self.jwks.refresh_for_unknown_kid()
        except TokenError as error:
            return self._invalid(error.reason)
        return self._jwt(exchange, token)

    async def _introspect(self, exchange: Exchange, token: str) -> Verdict | None:
        assert self.introspector is not None
        try:
            identity = await self.introspector.check(token)
        except IntrospectionError as error:
            log.error("token introspection failed on request %s: %s", exchange.request_id, error)
            return Verdict(
                503, "authentication_unavailable", "The credentials could not be checked; retry later.",
                details={"reason": str(error)},
            )
        if identity is None:
            return self._invalid("token inactive")
        exchange.identity = identity
        return None


def _shared_jwks(context: StageContext, config: Any) -> JwksCache:
    """Return one JwksCache per URL for the whole compiled policy."""
    key = f"jwks:{config.url}:{','.join(config.algorithms)}"
    cache: JwksCache | None = context.services.get(key)
    if cache is None:
        cache = JwksCache(config)
        context.services[key] = cache
    return cache


def _api_key_table(config: ApiKeyConfig | None) -> dict[str, Identity]:
    if config is None:
        return {}
    return {
        entry.sha256: Identity(
            subject=entry.consumer, consumer=entry.consumer, scopes=frozenset(entry.scopes),
            roles=frozenset(entry.roles), method="api_key",
        )
        for entry in config.keys
    }


def _cookies(exchange: Exchange, name: str) -> list[str]:
    values = []
    for header in exchange.headers.get_all("cookie"):
        for pair in header.split(";"):
            key, _, value = pair.strip().partition("=")
            if key == name:
                values.append(value.strip())
    return values


def build(config: Any, context: StageContext) -> Stage:
    remote = config.introspection is not None or (config.jwt is not None and config.jwt.jwks is not None)
    return RemoteAuthnStage(config, context) if remote else StaticAuthnStage(config, context)
