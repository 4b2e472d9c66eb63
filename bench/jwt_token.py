"""Write an RSA key pair for the benchmark and print an RS256 bearer token it verifies.

Usage: python bench/jwt_token.py DIR   (writes DIR/jwt-public.pem, prints the token)
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


def write_key_and_token(folder: Path) -> str:
    """Write ``folder/jwt-public.pem`` and return an RS256 token (kid ``bench``) valid for a day."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    (folder / "jwt-public.pem").write_bytes(public_pem)
    now = int(time.time())
    claims = {"sub": "user-42", "scope": "items:read orders:write", "iat": now, "exp": now + 86400}
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": "bench"})


def main() -> None:
    print(write_key_and_token(Path(sys.argv[1])))


if __name__ == "__main__":
    main()
