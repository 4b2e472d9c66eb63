"""JWT checks: structure, header, signature with a bound key, claims; and the verified-token cache.

The steps of :meth:`JwtVerifier.verify`, in order:

1. Split the compact serialisation into three base64url parts (no JSON serialisation).
2. Read the header. ``alg`` must be an algorithm some key is bound to, so never ``none``.
   Any ``crit`` parameter is rejected because no JWS extension is implemented. ``jku``,
   ``x5u``, ``jwk`` and ``x5c`` are ignored.
3. Choose keys by ``kid`` and ``alg`` among the configured and JWKS keys only.
4. Verify the signature over the first two parts.
5. Check the claims: required claims, ``exp``, ``nbf``, ``iat`` with leeway, exact ``iss``,
   ``aud``.

A verified token is cached until its ``exp`` (plus leeway), keyed by the token string itself:
the dictionary compares whole strings, so only the very same token finds an entry, and a repeat
request costs one string hash and lookup instead of a signature check.
"""

from __future__ import annotations

import base64
import binascii
import re
import time
from dataclasses import dataclass
from typing import Any, Final

import orjson

from apiward.gateway.pipeline import Identity
from apiward.gateway.stages.jwt_keys import BoundKey, JwksCache
from apiward.policy.stages.authn import JwtConfig

MAX_TOKEN_LENGTH: Final = 16 * 1024
_B64URL = re.compile(rb"^[A-Za-z0-9_-]*$")
_NO_EXP_CACHE_SECONDS = 60.0


class TokenError(Exception):
    """The token is not acceptable; ``reason`` goes to the SecurityEvent, never to the client."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class UnknownKeyId(TokenError):
    """The token names a kid that no key has; a JWKS refresh may find it."""


@dataclass(slots=True)
class _Cached:
    identity: Identity
    deadline: float
    version: int


def _b64decode(part: bytes) -> bytes:
    if not _B64URL.match(part):
        raise TokenError("malformed: not base64url")
    try:
        return base64.urlsafe_b64decode(part + b"=" * (-len(part) % 4))
    except (binascii.Error, ValueError):
        raise TokenError("malformed: not base64url") from None


def _json_object(part: bytes, what: str) -> dict[str, Any]:
    try:
        value = orjson.loads(_b64decode(part))
    except orjson.JSONDecodeError:
        raise TokenError(f"malformed: {what} is not JSON") from None
    if not isinstance(value, dict):
        raise TokenError(f"malformed: {what} is not a JSON object")
    return value


class JwtVerifier:
    """Verify compact JWS tokens against the policy's keys and the JWKS cache."""

    def __init__(self, config: JwtConfig, keys: list[BoundKey], jwks: JwksCache | None) -> None:
        self.config = config
        self.static_keys = tuple(keys)
        self.jwks = jwks
        self.algorithms = frozenset(key.algorithm for key in keys) | frozenset(
            jwks.config.algorithms if jwks is not None else ()
        )
        self.cache: dict[str, _Cached] = {}
        self.cache_size = config.cache_size
        self.leeway = config.leeway
        self.required = tuple(config.require)
        self.audience = frozenset(config.audience)

    def _version(self) -> int:
        return self.jwks.version if self.jwks is not None else 0

    def verify(self, token: str) -> Identity:
        """Return the identity a valid token carries; raise TokenError (or UnknownKeyId)."""
        if len(token) > MAX_TOKEN_LENGTH:
            raise TokenError("token too long")
        now = time.time()
        cached = self.cache.get(token)
        if cached is not None:
            if cached.deadline > now and cached.version == self._version():
                return cached.identity
            del self.cache[token]
        claims = self._check_signature(token.encode("ascii", "replace"))
        deadline = self._check_claims(claims, now)
        identity = self._identity(claims)
        self._remember(token, identity, deadline)
        return identity

    def _check_signature(self, raw: bytes) -> dict[str, Any]:
        parts = raw.split(b".")
        if len(parts) != 3:
            raise TokenError("malformed: expected three parts")
        header = _json_object(parts[0], "header")
        algorithm = header.get("alg")
        if not isinstance(algorithm, str) or algorithm not in self.algorithms:
            raise TokenError(f"algorithm {str(algorithm)[:20]!r} not accepted")
        if "crit" in header:
            raise TokenError("crit header parameters are not supported")
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise TokenError("malformed: kid is not a string")
        candidates = self._candidates(kid, algorithm)
        signing_input = parts[0] + b"." + parts[1]
        signature = _b64decode(parts[2])
        if not any(key.verify(signing_input, signature) for key in candidates):
            raise TokenError("signature does not verify")
        return _json_object(parts[1], "payload")

    def _candidates(self, kid: str | None, algorithm: str) -> list[BoundKey]:
        keys = self.static_keys + (self.jwks.keys if self.jwks is not None else ())
        if kid is None:
            found = [key for key in keys if key.algorithm == algorithm]
        else:
            found = [key for key in keys if key.algorithm == algorithm and key.kid in (kid, None)]
            if self.jwks is not None and not any(key.kid == kid for key in keys):
                raise UnknownKeyId(f"unknown kid {kid[:40]!r}")
        if not found:
            raise TokenError(f"no key for algorithm {algorithm} and kid {str(kid)[:40]!r}")
        return found

    def _check_claims(self, claims: dict[str, Any], now: float) -> float:
        """Check the registered claims; return until when the token may be cached."""
        for name in self.required:
            if name not in claims:
                raise TokenError(f"required claim {name!r} missing")
        leeway = self.leeway
        expires = _numeric(claims, "exp")
        if expires is not None and now >= expires + leeway:
            raise TokenError("expired")
        not_before = _numeric(claims, "nbf")
        if not_before is not None and now + leeway < not_before:
            raise TokenError("not yet valid (nbf)")
        issued = _numeric(claims, "iat")
        if issued is not None and issued > now + leeway:
            raise TokenError("issued in the future (iat)")
        if self.config.issuer is not None and claims.get("iss") != self.config.issuer:
            raise TokenError("issuer does not match")
        if self.audience and not self._audience_matches(claims.get("aud")):
            raise TokenError("audience does not match")
        return expires + leeway if expires is not None else now + _NO_EXP_CACHE_SECONDS

    def _audience_matches(self, audience: Any) -> bool:
        if isinstance(audience, str):
            return audience in self.audience
        if isinstance(audience, list):
            return any(isinstance(item, str) and item in self.audience for item in audience)
        return False

    def _identity(self, claims: dict[str, Any]) -> Identity:
        subject = claims.get(self.config.subject_claim)
        if not isinstance(subject, str) or not subject:
            raise TokenError(f"claim {self.config.subject_claim!r} missing or not a string")
        consumer = claims.get(self.config.consumer_claim) if self.config.consumer_claim else None
        return Identity(
            subject=subject,
            consumer=consumer if isinstance(consumer, str) else None,
            scopes=string_set(claims.get(self.config.scopes_claim)),
            roles=string_set(claims.get(self.config.roles_claim)),
            claims=claims,
            method="jwt",
        )

    def _remember(self, token: str, identity: Identity, deadline: float) -> None:
        if self.cache_size == 0:
            return
        if len(self.cache) >= self.cache_size:
            # Dicts keep insertion order, so this drops the oldest entry.
            del self.cache[next(iter(self.cache))]
        self.cache[token] = _Cached(identity, deadline, self._version())


def _numeric(claims: dict[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TokenError(f"claim {name!r} is not a number")
    return float(value)


def string_set(value: Any) -> frozenset[str]:
    """Read scopes or roles given as a space-separated string or a list of strings."""
    if isinstance(value, str):
        return frozenset(value.split())
    if isinstance(value, list):
        return frozenset(item for item in value if isinstance(item, str))
    return frozenset()
