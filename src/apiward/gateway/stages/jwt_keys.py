"""JWT verification keys, each bound to one algorithm, and the JWK Set cache.

A key never verifies an algorithm other than the one it is bound to. The binding is checked
against the key type when the key is loaded: an HMAC secret only verifies HS*, an RSA key only
RS*/PS*, an EC key only the ES* of its curve, an OKP key only EdDSA. So a token that
names HS256 is never checked with an RSA public key's bytes, and ``none`` has no key at all.

Keys come from the policy (PEM, JWK or secret by reference) or from the configured JWKS URL.
No URL named inside a token (``jku``, ``x5u``) and no key inside a token (``jwk``, ``x5c``) is
ever used.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from jwt.algorithms import Algorithm, get_default_algorithms
from jwt.exceptions import InvalidKeyError

from apiward.policy.stages.authn import JwksConfig, JwtKey
from apiward.policy.stages.secrets import read_secret

log = logging.getLogger("apiward.gateway.authn")

_ALGORITHMS: dict[str, Algorithm] = {
    name: algorithm for name, algorithm in get_default_algorithms().items() if name != "none"
}
_EC_CURVES = {"ES256": "secp256r1", "ES384": "secp384r1", "ES512": "secp521r1"}
_JWK_EC_ALGORITHMS = {"P-256": "ES256", "P-384": "ES384", "P-521": "ES512"}
MIN_RSA_BITS = 2048
MAX_JWKS_BYTES = 1024 * 1024


class KeyLoadError(ValueError):
    """A configured or fetched key cannot be used for the algorithm it is bound to."""


@dataclass(frozen=True, slots=True)
class BoundKey:
    """A parsed key and the one algorithm it verifies."""

    kid: str | None
    algorithm: str
    verifier: Algorithm
    key: Any

    def verify(self, signing_input: bytes, signature: bytes) -> bool:
        return bool(self.verifier.verify(signing_input, self.key, signature))


def check_key_type(algorithm: str, key: Any) -> None:
    """Raise KeyLoadError unless ``key`` is the key type ``algorithm`` needs."""
    family = algorithm[:2]
    if family == "HS":
        ok = isinstance(key, bytes) and len(key) >= 32
        need = "an HMAC secret of at least 32 bytes"
    elif family in ("RS", "PS"):
        ok = isinstance(key, rsa.RSAPublicKey) and key.key_size >= MIN_RSA_BITS
        need = f"an RSA public key of at least {MIN_RSA_BITS} bits"
    elif family == "ES":
        ok = isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == _EC_CURVES.get(algorithm)
        need = f"an EC public key on curve {_EC_CURVES.get(algorithm)}"
    else:
        ok = isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey)
        need = "an Ed25519 or Ed448 public key"
    if not ok:
        raise KeyLoadError(f"{algorithm} needs {need}, got {type(key).__name__}")


def bind_key(kid: str | None, algorithm: str, key: Any) -> BoundKey:
    """Bind a parsed key to ``algorithm`` after checking that the key type fits."""
    if algorithm not in _ALGORITHMS:
        raise KeyLoadError(f"unsupported algorithm {algorithm!r}")
    check_key_type(algorithm, key)
    return BoundKey(kid, algorithm, _ALGORITHMS[algorithm], key)


_PRIVATE_KEYS = (
    rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey, ed25519.Ed25519PrivateKey, ed448.Ed448PrivateKey,
)


def _public(key: Any) -> Any:
    return key.public_key() if isinstance(key, _PRIVATE_KEYS) else key


def fingerprint(key: BoundKey) -> tuple[str | None, str, bytes]:
    """Return what identifies a key's material, so a rotated key under an old kid is noticed."""
    if isinstance(key.key, bytes):
        material = key.key
    else:
        material = key.key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo,
        )
    return key.kid, key.algorithm, material


def load_pem(data: bytes) -> Any:
    """Load a public key from a PEM public key or certificate (a private key yields its public half)."""
    try:
        if b"-----BEGIN CERTIFICATE-----" in data:
            return x509.load_pem_x509_certificate(data).public_key()
        if b"PRIVATE KEY-----" in data:
            return _public(serialization.load_pem_private_key(data, password=None))
        return serialization.load_pem_public_key(data)
    except (ValueError, TypeError) as error:
        raise KeyLoadError(f"invalid PEM key: {error}") from None


def load_jwk(jwk: dict[str, Any], algorithm: str) -> Any:
    """Parse a JWK with the PyJWT family that ``algorithm`` belongs to."""
    verifier = _ALGORITHMS.get(algorithm)
    if verifier is None:
        raise KeyLoadError(f"unsupported algorithm {algorithm!r}")
    try:
        key = verifier.from_jwk(jwk)
    except (InvalidKeyError, ValueError, KeyError, TypeError) as error:
        raise KeyLoadError(f"invalid JWK for {algorithm}: {error}") from None
    return _public(key) if not isinstance(key, bytes) else key


def load_configured_key(entry: JwtKey, policy_dir: Path | None) -> BoundKey:
    """Load one key of the policy, reading its reference and checking its type."""
    if entry.secret is not None:
        key: Any = read_secret(entry.secret, policy_dir).strip()
    elif entry.pem is not None:
        key = load_pem(read_secret(entry.pem, policy_dir))
    else:
        assert entry.jwk is not None  # the config model requires exactly one source
        try:
            jwk = orjson.loads(read_secret(entry.jwk, policy_dir))
        except orjson.JSONDecodeError as error:
            raise KeyLoadError(f"invalid JWK JSON in {entry.jwk!r}: {error}") from None
        if not isinstance(jwk, dict):
            raise KeyLoadError(f"invalid JWK in {entry.jwk!r}: expected a JSON object")
        if jwk.get("alg") not in (None, entry.algorithm):
            raise KeyLoadError(f"the JWK in {entry.jwk!r} has alg {jwk.get('alg')!r}, not {entry.algorithm}")
        key = load_jwk(jwk, entry.algorithm)
    return bind_key(entry.kid, entry.algorithm, key)


def jwks_algorithm(jwk: dict[str, Any], allowed: list[str]) -> str | None:
    """Pick the algorithm a JWKS key is bound to, or None when it may not be used.

    The key's ``alg`` wins when present; otherwise the key type decides (RSA: the first allowed
    RS*/PS*, EC: the algorithm of its curve, OKP: EdDSA). Symmetric (``oct``) keys are never
    taken from a JWKS.
    """
    kty = jwk.get("kty")
    if jwk.get("use", "sig") != "sig" or kty not in ("RSA", "EC", "OKP"):
        return None
    algorithm = jwk.get("alg")
    if algorithm is None:
        if kty == "RSA":
            algorithm = next((name for name in allowed if name[:2] in ("RS", "PS")), None)
        elif kty == "EC":
            algorithm = _JWK_EC_ALGORITHMS.get(str(jwk.get("crv")))
        else:
            algorithm = "EdDSA"
    return algorithm if algorithm in allowed else None


def parse_jwks(document: Any, allowed: list[str]) -> list[BoundKey]:
    """Return the usable keys of a JWK Set; a key that fails to parse is skipped and logged."""
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise KeyLoadError('invalid JWK Set: expected a JSON object with a "keys" list')
    keys = []
    for index, jwk in enumerate(document["keys"]):
        if not isinstance(jwk, dict):
            continue
        algorithm = jwks_algorithm(jwk, allowed)
        kid = jwk.get("kid")
        if algorithm is None or not isinstance(kid, str | None):
            log.warning("JWKS key %d (kid %r) skipped: type or algorithm not allowed", index, kid)
            continue
        try:
            keys.append(bind_key(kid, algorithm, load_jwk(jwk, algorithm)))
        except KeyLoadError as error:
            log.warning("JWKS key %d (kid %r) skipped: %s", index, kid, error)
    return keys


class JwksCache:
    """The JWK Set of one URL: fetched at start, on a schedule, and once for an unknown kid.

    Fetches are single-flight: concurrent requests with an unknown kid share one fetch, and no
    second fetch for an unknown kid happens within ``min_refresh_interval``. When the identity
    provider is down, the last good key set stays in use.
    """

    def __init__(self, config: JwksConfig) -> None:
        self.config = config
        self.keys: tuple[BoundKey, ...] = ()
        self.version = 0
        self.fetches = 0
        self.failures = 0
        self.loaded = False
        self._last_attempt = -math.inf
        self._last_unknown_kid_refresh = -math.inf
        self._inflight: asyncio.Task[None] | None = None
        self._schedule: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self._schedule is None:
            self._schedule = asyncio.get_running_loop().create_task(self._run_schedule(), name="jwks.refresh")

    async def close(self) -> None:
        if self._schedule is not None:
            self._schedule.cancel()
            self._schedule = None

    async def _run_schedule(self) -> None:
        while True:
            await self.refresh()
            await asyncio.sleep(self.config.refresh)

    async def ensure_loaded(self) -> None:
        """Fetch the set on first use when the schedule has not loaded it yet."""
        if not self.loaded and time.monotonic() - self._last_attempt >= self.config.min_refresh_interval:
            await self.refresh()

    async def refresh_for_unknown_kid(self) -> None:
        """Refresh once for a kid not in the set, unless a refresh ran within the back-off."""
        if self._inflight is not None:
            await asyncio.shield(self._inflight)
            return
        now = time.monotonic()
        if now - self._last_unknown_kid_refresh < self.config.min_refresh_interval:
            return
        self._last_unknown_kid_refresh = now
        await self.refresh()

    async def refresh(self) -> None:
        if self._inflight is None:
            self._inflight = asyncio.get_running_loop().create_task(self._fetch(), name="jwks.fetch")
        task = self._inflight
        try:
            await asyncio.shield(task)
        finally:
            if task.done() and self._inflight is task:
                self._inflight = None

    async def _fetch(self) -> None:
        self._last_attempt = time.monotonic()
        self.fetches += 1
        try:
            document = await self._download()
            keys = parse_jwks(document, list(self.config.algorithms))
        except (httpx.HTTPError, KeyLoadError, orjson.JSONDecodeError) as error:
            self.failures += 1
            log.error("JWKS refresh from %s failed, keeping %d cached keys: %s",
                      self.config.url, len(self.keys), error)
            return
        if not keys:
            self.failures += 1
            log.error(
                "JWKS from %s has no usable key, keeping %d cached keys", self.config.url, len(self.keys),
            )
            return
        if [fingerprint(key) for key in keys] != [fingerprint(key) for key in self.keys]:
            self.version += 1
        self.keys = tuple(keys)
        self.loaded = True

    async def _download(self) -> Any:
        timeout = httpx.Timeout(self.config.timeout)
        client = httpx.AsyncClient(timeout=timeout, follow_redirects=False, trust_env=False)
        request_headers = {"accept": "application/json"}
        async with client, client.stream("GET", self.config.url, headers=request_headers) as response:
            if response.status_code != 200:
                raise KeyLoadError(f"JWKS request failed with status {response.status_code}")
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > MAX_JWKS_BYTES:
                    raise KeyLoadError(f"JWKS larger than {MAX_JWKS_BYTES} bytes")
        return orjson.loads(bytes(body))
