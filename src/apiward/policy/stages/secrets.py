"""References to secrets in a policy: ``env:NAME`` or ``file:PATH``, never the secret itself.

A policy file is copied, versioned and shown in the console, so a secret written into it
leaks. The policy keeps a reference, and the stage reads the value when it is built.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

from pydantic import BeforeValidator


def _check_reference(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(
            f"expected a secret reference such as env:JWT_SECRET or file:keys/jwt.pem, got {value!r}"
        )
    kind, _, name = value.partition(":")
    if kind not in ("env", "file") or not name.strip():
        raise ValueError(
            "inline secrets are not allowed in a policy; write env:NAME to read an environment "
            "variable or file:PATH to read a file"
        )
    return value


SecretRef = Annotated[str, BeforeValidator(_check_reference)]
"""``env:NAME`` or ``file:PATH`` (relative paths resolve against the policy file's directory)."""


def read_secret(reference: str, policy_dir: Path | None) -> bytes:
    """Read the secret a reference names; raise ValueError saying which one is missing."""
    kind, _, name = reference.partition(":")
    if kind == "env":
        value = os.environ.get(name)
        if value is None:
            raise ValueError(f"environment variable {name!r} (from {reference!r}) is not set")
        return value.encode()
    path = Path(name)
    if not path.is_absolute() and policy_dir is not None:
        path = Path(policy_dir) / path
    try:
        return path.read_bytes()
    except OSError as error:
        raise ValueError(
            f"cannot read secret file {str(path)!r} (from {reference!r}): {error.strerror}"
        ) from None
