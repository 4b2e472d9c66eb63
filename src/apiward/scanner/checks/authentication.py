"""API2:2023 authentication: missing authentication, JWT validation, login weaknesses."""

from __future__ import annotations

import base64
import json
import time
import warnings
from typing import Any

import jwt

from apiward.scanner.auth import Identity, dig, login_request
from apiward.scanner.client import Response
from apiward.scanner.context import ScanContext
from apiward.scanner.registry import Recorder, check
from apiward.scanner.spec import Operation
from apiward.scanner.wordlists import JWT_SECRETS

_THROTTLE_ATTEMPTS = 30
_HMAC_ALGORITHMS = ("HS256", "HS384", "HS512")
# Cracking tests the key only; an expired token or a foreign audience still proves the key.
_SIGNATURE_ONLY: Any = {"verify_exp": False, "verify_aud": False, "verify_iat": False, "verify_nbf": False}


@check("unauthenticated-access")
def unauthenticated_access(ctx: ScanContext, recorder: Recorder) -> None:
    # Reads only: an anonymous POST (feedback, sign-up) is often optional authentication by
    # design, and OpenAPI generators rarely mark optional security as such.
    for operation in ctx.callable_operations(("GET",)):
        if not operation.secured:
            continue
        identity = ctx.best_identity(operation)
        prepared = ctx.prepare(operation, identity)
        response = ctx.send(ctx.anonymous, operation, prepared)
        if not response.ok:
            recorder.passed(operation, f"answered {response.status} without credentials", [response])
            continue
        again = ctx.send(ctx.anonymous, operation, prepared)
        if again.ok:
            recorder.finding(
                operation, "answered 2xx without credentials although it declares security", [response, again]
            )
        else:
            recorder.passed(operation, "a second request without credentials failed")


# -- JWT ------------------------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _jwt_probe(ctx: ScanContext) -> tuple[Identity, Operation, str, str] | None:
    """Find (identity, operation, path, token): a GET that needs the identity's JWT (cached)."""
    if "jwt-probe" not in ctx.cache:
        ctx.cache["jwt-probe"] = _find_jwt_probe(ctx)
    probe: tuple[Identity, Operation, str, str] | None = ctx.cache["jwt-probe"]
    return probe


def _find_jwt_probe(ctx: ScanContext) -> tuple[Identity, Operation, str, str] | None:
    for identity in ctx.users() + ([ctx.admin()] if ctx.admin() else []):
        assert identity is not None
        if identity.username is None:
            continue
        identity.auth_headers()
        token = identity.token or ""
        if token.count(".") != 2:
            continue
        for operation in ctx.callable_operations(("GET",)):
            if not operation.secured:
                continue
            prepared = ctx.prepare(operation, identity)
            if (
                ctx.send(identity, operation, prepared).ok
                and not ctx.send(ctx.anonymous, operation, prepared).ok
            ):
                return identity, operation, prepared.path, token
    return None


def _send_token(ctx: ScanContext, path: str, token: str) -> Response:
    login = ctx.auth.login
    assert login is not None
    prefix = f"{login.scheme} " if login.scheme else ""
    return ctx.client.send("GET", path, headers={login.header: prefix + token})


def _jwt_check(
    ctx: ScanContext, recorder: Recorder, forge: Any, token_kind: str, at_login: bool = False
) -> None:
    """Send a forged token to a GET that needs a JWT; report at that GET (or at the login)."""
    probe = _jwt_probe(ctx)
    if probe is None:
        recorder.not_run(None, "no identity with a JWT and no GET operation that needs it")
        return
    identity, operation, path, token = probe
    login = ctx.auth.login
    where: Operation | tuple[str, str] = (
        (login.method.upper(), login.path) if at_login and login is not None else operation
    )

    forged = forge(token)
    if forged is None:
        recorder.not_run(where, f"cannot build a token of kind {token_kind} for this target")
        return
    garbage = _send_token(ctx, path, "not-a-jwt")
    if garbage.ok:
        recorder.error(
            where, "the target accepts a token that is not a JWT, so forging proves nothing", [garbage]
        )
        return

    response = _send_token(ctx, path, forged)
    if not response.ok:
        recorder.passed(
            where, f"a forged token ({token_kind}) was rejected with {response.status}", [response]
        )
        return
    again = _send_token(ctx, path, forged)
    if again.ok:
        recorder.finding(
            where,
            f"a forged token ({token_kind}) for {identity.name} was accepted on GET {path}",
            [garbage, response, again],
        )
    else:
        recorder.passed(where, f"a second forged token ({token_kind}) was rejected")


def _claims(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    return jwt.get_unverified_header(token), jwt.decode(token, options={"verify_signature": False})


def _forge_none(token: str) -> str:
    header, claims = _claims(token)
    header = {**header, "alg": "none"}
    return f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}."


def _forge_bad_signature(token: str) -> str:
    head, body, signature = token.split(".")
    raw = bytearray(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)) or b"\0")
    raw[0] ^= 0xFF
    return f"{head}.{body}.{_b64(bytes(raw))}"


def _sign(claims: dict[str, Any], secret: str, algorithm: str) -> str:
    # Short keys are the point of these checks, so PyJWT's key-length warning is expected.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jwt.InsecureKeyLengthWarning)
        return jwt.encode(claims, secret, algorithm=algorithm)


def _crack(token: str) -> str | None:
    """Return the word of the built-in list that verifies the token's HMAC, or None."""
    header, _claims_unused = _claims(token)
    if header.get("alg") not in _HMAC_ALGORITHMS:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jwt.InsecureKeyLengthWarning)
        return _try_words(token, header["alg"])


def _try_words(token: str, algorithm: str) -> str | None:
    for word in JWT_SECRETS:
        try:
            jwt.decode(token, word, algorithms=[algorithm], options=_SIGNATURE_ONLY)
        except jwt.PyJWTError:
            continue
        return word
    return None


@check("jwt-alg-none")
def jwt_alg_none(ctx: ScanContext, recorder: Recorder) -> None:
    _jwt_check(ctx, recorder, _forge_none, "alg-none")


@check("jwt-bad-signature")
def jwt_bad_signature(ctx: ScanContext, recorder: Recorder) -> None:
    _jwt_check(ctx, recorder, _forge_bad_signature, "bad-signature")


@check("jwt-weak-secret")
def jwt_weak_secret(ctx: ScanContext, recorder: Recorder) -> None:
    def forge(token: str) -> str | None:
        secret = _crack(token)
        if secret is None:
            return None
        header, claims = _claims(token)
        claims["iat"] = int(time.time())
        return _sign(claims, secret, header["alg"])

    probe = _jwt_probe(ctx)
    login = ctx.auth.login
    if probe is not None and _crack(probe[3]) is None:
        where = (login.method.upper(), login.path) if login is not None else probe[1]
        recorder.passed(where, f"the HMAC key is none of {len(JWT_SECRETS)} common words")
        return
    _jwt_check(ctx, recorder, forge, "weak-secret", at_login=True)


@check("jwt-expired")
def jwt_expired(ctx: ScanContext, recorder: Recorder) -> None:
    def forge(token: str) -> str | None:
        header, claims = _claims(token)
        secret = ctx.auth.jwt_secret or _crack(token)
        if secret is None or header.get("alg") not in _HMAC_ALGORITHMS:
            return None
        now = int(time.time())
        claims.update(iat=now - 7200, exp=now - 3600)
        return _sign(claims, secret, header["alg"])

    _jwt_check(ctx, recorder, forge, "expired")


# -- login ----------------------------------------------------------------------------------------


def _login_operation(ctx: ScanContext) -> tuple[str, str] | None:
    login = ctx.auth.login
    return (login.method.upper(), login.path) if login else None


def _known_user(ctx: ScanContext) -> Identity | None:
    return next((identity for identity in ctx.users() if identity.username), None)


def _shape(response: Response, token_path: str) -> tuple[int | None, str]:
    document = response.json()
    if isinstance(document, dict):
        message = json.dumps(
            {key: value for key, value in document.items() if key not in ("timestamp", "request_id", "time")},
            sort_keys=True,
        )
    else:
        message = response.text[:500]
    return response.status, message if dig(document, token_path) is None else "<token>"


@check("user-enumeration")
def user_enumeration(ctx: ScanContext, recorder: Recorder) -> None:
    where = _login_operation(ctx)
    user = _known_user(ctx)
    if where is None or user is None or ctx.auth.login is None:
        recorder.not_run(where, "needs a login block and an identity with a username")
        return
    login = ctx.auth.login
    wrong = "Wrong-Pw-9x!"
    known_a = login_request(ctx.client, login, user.username or "", wrong)
    unknown_a = login_request(ctx.client, login, "aw-nosuchuser-71", wrong)
    known_b = login_request(ctx.client, login, user.username or "", wrong + "2")
    unknown_b = login_request(ctx.client, login, "aw-nosuchuser-72", wrong)
    shapes = [_shape(response, login.token_path) for response in (known_a, unknown_a, known_b, unknown_b)]
    stable = shapes[0] == shapes[2] and shapes[1] == shapes[3]
    if stable and shapes[0] != shapes[1]:
        recorder.finding(
            where,
            "failed logins differ for an existing user and an unknown one",
            [known_a, unknown_a, known_b, unknown_b],
        )
    else:
        recorder.passed(where, "failed logins look the same for existing and unknown users")


@check("login-no-throttle")
def login_no_throttle(ctx: ScanContext, recorder: Recorder) -> None:
    where = _login_operation(ctx)
    login = ctx.auth.login
    if where is None or login is None:
        recorder.not_run(where, "needs a login block")
        return
    victim = ctx.throwaway() or _known_user(ctx)
    if victim is None:
        recorder.not_run(where, "needs a throwaway account or an identity with a username")
        return

    first = login_request(ctx.client, login, victim.username or "", "Wrong-Pw-0!")
    last = first
    for attempt in range(_THROTTLE_ATTEMPTS - 1):
        last = login_request(ctx.client, login, victim.username or "", f"Wrong-Pw-{attempt + 1}!")
        if last.status in (423, 429) or last.status is None:
            recorder.passed(where, f"attempt {attempt + 2} answered {last.status}", [last])
            return

    control = login_request(ctx.client, login, victim.username or "", victim.config.password or "")
    if not control.ok or dig(control.json(), login.token_path) is None:
        recorder.passed(
            where, "the right password was rejected after the failed attempts (lockout)", [control]
        )
        return
    if last.elapsed > first.elapsed + 1.0:
        recorder.passed(where, "failed logins slowed down (tarpit)", [first, last])
        return
    recorder.finding(
        where,
        f"{_THROTTLE_ATTEMPTS} wrong passwords in a row: no 429, no lockout, "
        "and the right password still works",
        [first, last, control],
    )
