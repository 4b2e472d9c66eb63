"""Keys, token signing and small loopback servers (identity provider, canary) for authn tests."""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

ISSUER = "https://idp.test"


@functools.cache
def rsa_key(name: str = "main") -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@functools.cache
def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@functools.cache
def ed_key() -> ed25519.Ed25519PrivateKey:
    return ed25519.Ed25519PrivateKey.generate()


def public_pem(key: Any) -> bytes:
    return bytes(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo,
    ))


def public_jwk(key: Any, kid: str, alg: str | None = None) -> dict[str, Any]:
    public = key.public_key()
    if isinstance(public, rsa.RSAPublicKey):
        jwk = json.loads(RSAAlgorithm.to_jwk(public))
    elif isinstance(public, ec.EllipticCurvePublicKey):
        jwk = json.loads(ECAlgorithm.to_jwk(public))
    else:
        jwk = json.loads(OKPAlgorithm.to_jwk(public))
    jwk["kid"] = kid
    if alg:
        jwk["alg"] = alg
    return jwk


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {"sub": "alice", "iss": ISSUER, "aud": "shop", "iat": now, "exp": now + 600,
            "scope": "orders:read profile", "roles": ["user"], "client_id": "web"}
    base.update(overrides)
    return {name: value for name, value in base.items() if value is not None}


def sign(key: Any, alg: str = "RS256", headers: dict[str, Any] | None = None, **overrides: Any) -> str:
    return jwt.encode(claims(**overrides), key, algorithm=alg, headers=headers)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forge(
    header: dict[str, Any], payload: dict[str, Any], secret: bytes | None, hash_name: str = "sha256",
) -> str:
    """Build a token by hand, HMAC-signed with ``secret`` (or unsigned when None)."""
    signing_input = b64(json.dumps(header).encode()) + "." + b64(json.dumps(payload).encode())
    if secret is None:
        return signing_input + "."
    signature = hmac.new(secret, signing_input.encode(), getattr(hashlib, hash_name)).digest()
    return signing_input + "." + b64(signature)


Handler = Callable[[str, str, bytes], tuple[int, bytes]]


class LoopbackServer:
    """A tiny HTTP/1.1 server on 127.0.0.1 that counts connections and requests."""

    def __init__(self, handler: Handler | None = None) -> None:
        self.handler = handler
        self.connections = 0
        self.requests: list[tuple[str, str, bytes]] = []
        self.server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> LoopbackServer:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
            length = 0
            for line in lines[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value.strip())
            body = await reader.readexactly(length) if length else b""
            self.requests.append((method, path, body))
            status, payload = self.handler(method, path, body) if self.handler else (404, b"{}")
            writer.write(
                f"HTTP/1.1 {status} X\r\ncontent-type: application/json\r\n"
                f"content-length: {len(payload)}\r\nconnection: close\r\n\r\n".encode() + payload
            )
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ValueError):
            pass
        finally:
            writer.close()


class Jwks(LoopbackServer):
    """The identity provider: serves ``keys`` as a JWK Set at /jwks."""

    def __init__(self, keys: list[dict[str, Any]]) -> None:
        super().__init__(self._answer)
        self.keys = keys
        self.status = 200

    def _answer(self, method: str, path: str, body: bytes) -> tuple[int, bytes]:
        return self.status, json.dumps({"keys": self.keys}).encode()

    @property
    def fetches(self) -> int:
        return len(self.requests)


def sign_payload(key: Any, payload: dict[str, Any], alg: str = "RS256") -> str:
    """Sign any JSON payload, including claims PyJWT's encoder refuses (a list as iss)."""
    return jwt.api_jws.encode(json.dumps(payload).encode(), key, algorithm=alg)
