"""Masking of secrets in evidence and in the HAR file.

Credentials never appear in full in a report: header values of credential headers, JSON values
of credential-like keys and anything shaped like a JWT keep their first four characters only.
"""

from __future__ import annotations

import re

_SECRET_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "x-api-key",
        "api-key",
        "x-auth-token",
        "x-access-token",
    }
)
# A pattern of key names, not a secret.
_CREDENTIAL_NAMES = (
    r"(?:password|passwd|pwd|secret|token|api[_-]?key|apikey|auth[_-]?token|access[_-]?token|"
    r"refresh[_-]?token|private[_-]?key|client[_-]?secret|authorization|cookie)"
)
_JSON_SECRET = re.compile(
    r'("[A-Za-z_]*' + _CREDENTIAL_NAMES + r'[A-Za-z_]*"\s*:\s*")([^"]{1,4})([^"]*)(")', re.I
)
_FORM_SECRET = re.compile(r"((?:^|&)[A-Za-z_]*" + _CREDENTIAL_NAMES + r"[A-Za-z_]*=)([^&]{1,4})([^&]*)", re.I)
_BEARER = re.compile(r"\b(Bearer|Basic)\s+([A-Za-z0-9._~+/=-]{4,})")
_CARD_LIKE = re.compile(r"(?<!\d)(?:\d[ -]?){9,15}(\d{4})(?!\d)")
_SSN_LIKE = re.compile(r"(?<!\d)\d{3}-\d{2}-(\d{4})(?!\d)")
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*")


def mask_value(value: str) -> str:
    """Keep the first four characters of a secret and replace the rest."""
    return value[:4] + "…" if len(value) > 4 else "…"


def mask_headers(headers: dict[str, str]) -> dict[str, str]:
    return {
        name: mask_value(value) if name.lower() in _SECRET_HEADERS else value
        for name, value in headers.items()
    }


def mask_body(text: str) -> str:
    """Mask credential-like JSON values, form fields, JWTs, card numbers and SSNs in a body.

    Card numbers and SSNs keep their last four digits, as on a receipt.
    """
    text = _JWT.sub(lambda match: mask_value(match.group(0)), text)
    text = _CARD_LIKE.sub(lambda match: "…" + match.group(1), text)
    text = _SSN_LIKE.sub(lambda match: "…-" + match.group(1), text)
    text = _BEARER.sub(lambda match: f"{match.group(1)} {mask_value(match.group(2))}", text)
    text = _JSON_SECRET.sub(
        lambda m: m.group(1) + m.group(2) + ("…" if m.group(3) else "") + m.group(4), text
    )
    return _FORM_SECRET.sub(lambda m: m.group(1) + m.group(2) + ("…" if m.group(3) else ""), text)
