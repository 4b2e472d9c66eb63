"""API1:2023 object level authorization: bola-read, bola-write, id-enumeration."""

from __future__ import annotations

import secrets
from typing import Any

from apiward.scanner.auth import Identity, login_request
from apiward.scanner.changes import changed_body, visible_changes
from apiward.scanner.client import Response
from apiward.scanner.context import USER_PARAM_NAMES, ScanContext, fill_path, path_params
from apiward.scanner.registry import Recorder, check
from apiward.scanner.spec import Operation
from apiward.scanner.values import new_tag

_ENUMERATION_RANGE = range(1, 21)
_ENUMERATION_MIN_HITS = 3


def _two_users(ctx: ScanContext, prefer_throwaway: bool = False) -> tuple[Identity, Identity] | None:
    """Return (owner, other) user identities, registering throwaway accounts when allowed.

    The throwaway pair is registered once per scan and reused by later operations.
    """
    if prefer_throwaway and ctx.cache.get("throwaway-pair"):
        pair: tuple[Identity, Identity] = ctx.cache["throwaway-pair"]
        return pair
    pool = [] if prefer_throwaway else list(ctx.users())
    while len(pool) < 2:
        account = ctx.throwaway()
        if account is None:
            break
        pool.append(account)
    if len(pool) < 2 and prefer_throwaway:
        return _two_users(ctx, prefer_throwaway=False)
    if len(pool) < 2:
        return None
    if prefer_throwaway:
        ctx.cache["throwaway-pair"] = (pool[0], pool[1])
    return pool[0], pool[1]


def _object_of(
    ctx: ScanContext, owner: Identity, item_path: str, integer_ids: bool = True
) -> tuple[dict[str, str], str] | None:
    """Return (path values, marker) of an object ``owner`` created or owns at ``item_path``.

    With ``integer_ids`` False, owned ids that are integers are not used: walking integer ids
    is the id-enumeration check, so bola-read relies on objects it created there.
    """
    names = path_params(item_path)
    if not names:
        return None
    created = ctx.create_object(item_path, owner)
    if created is not None:
        marker = next((str(v) for v in created.body.values() if isinstance(v, str) and "aw" in v), "")
        return {created.param: created.object_id}, marker
    values: dict[str, str] = {}
    for name in names:
        owned = owner.config.owns.get(name)
        if owned and (integer_ids or not owned[0].isdigit()):
            values[name] = owner.config.owns[name][0]
        elif name.lower() in USER_PARAM_NAMES and owner.username:
            values[name] = owner.username
        else:
            return None
    return values, ""


@check("bola-read")
def bola_read(ctx: ScanContext, recorder: Recorder) -> None:
    for operation in ctx.callable_operations(("GET",)):
        if not operation.path_parameters:
            continue
        pair = _two_users(ctx)
        if pair is None:
            recorder.not_run(operation, "needs two user identities or a register block")
            continue
        owner, other = pair
        known = _object_of(ctx, owner, operation.path, integer_ids=False)
        if known is None:
            recorder.not_run(
                operation, "no object of one user is known (no create operation, no non-integer 'owns' id)"
            )
            continue
        _probe_read(ctx, recorder, operation, owner, other, *known)


def _probe_read(
    ctx: ScanContext,
    recorder: Recorder,
    operation: Operation,
    owner: Identity,
    other: Identity,
    values: dict[str, str],
    marker: str,
) -> None:
    prepared = ctx.prepare(operation, owner, values)
    own = ctx.send(owner, operation, prepared)
    if not own.ok:
        recorder.not_run(operation, f"the owner's own read answered {own.status}")
        return
    foreign = ctx.send(other, operation, prepared)
    anonymous = ctx.send(ctx.anonymous, operation, prepared)
    if anonymous.ok:
        recorder.passed(operation, "the object is public (anonymous read succeeds)")
        return
    same = foreign.ok and ((marker and marker in foreign.text) or foreign.body == own.body)
    if not same:
        recorder.passed(operation, f"another user's read answered {foreign.status}", [foreign])
        return
    again = ctx.send(other, operation, prepared)
    if again.ok:
        recorder.finding(
            operation,
            f"{other.name} read an object of {owner.name} ({prepared.path})",
            [own, foreign, anonymous, again],
        )
    else:
        recorder.passed(operation, "a second read by another user failed")


@check("bola-write")
def bola_write(ctx: ScanContext, recorder: Recorder) -> None:
    for operation in ctx.callable_operations(("PUT", "PATCH", "DELETE")):
        root = ctx.item_root(operation.path)
        if root is None:
            continue
        user_param = path_params(root)[-1].lower() in USER_PARAM_NAMES
        if user_param and ctx.can_register():
            _write_user_object(ctx, recorder, operation, root)
        else:
            _write_created_object(ctx, recorder, operation, root)


def _write_user_object(ctx: ScanContext, recorder: Recorder, operation: Operation, root: str) -> None:
    pair = _two_users(ctx, prefer_throwaway=True)
    if pair is None or not pair[0].throwaway:
        recorder.not_run(operation, "could not register throwaway accounts")
        return
    victim, attacker = pair

    # 1. Build the attacker's request against the victim's record.
    param = path_params(root)[-1]
    tag = new_tag()
    prepared = ctx.prepare(operation, attacker, {param: victim.username or ""}, tag)
    password_field = ctx.auth.login.password_field if ctx.auth.login else "password"
    new_password = None
    if isinstance(prepared.body, dict) and password_field in prepared.body:
        new_password = "Aw-" + secrets.token_urlsafe(10)
        prepared.body[password_field] = new_password

    # 2. Read the record before the write, so the change can be told apart afterwards.
    read_op = ctx.spec.find("GET", root)
    read_path = fill_path(root, {param: victim.username or ""})
    before = victim.send("GET", read_path) if read_op else None
    if new_password is None and before is not None:
        sent = changed_body(operation.body_schema, before.json(), tag)
        if sent is not None:
            prepared.body = sent

    # 3. Write as the attacker, then verify as the victim.
    write = ctx.send(attacker, operation, prepared)
    if not write.ok:
        recorder.passed(operation, f"another user's {operation.method} answered {write.status}", [write])
        return
    _verify_user_write(
        ctx,
        recorder,
        operation,
        victim,
        attacker,
        prepared.body if isinstance(prepared.body, dict) else {},
        new_password,
        before,
        read_path if read_op else None,
        write,
    )


def _verify_user_write(
    ctx: ScanContext,
    recorder: Recorder,
    operation: Operation,
    victim: Identity,
    attacker: Identity,
    sent: dict[str, Any],
    new_password: str | None,
    before: Response | None,
    read_path: str | None,
    write: Response,
) -> None:
    if new_password is not None:
        proof = login_request(ctx.client, ctx.auth.login, victim.username or "", new_password)
        if proof.ok:
            victim.config = victim.config.model_copy(update={"password": new_password})
            recorder.finding(
                operation,
                f"{attacker.name} set the password of {victim.name}; logging in with it succeeded",
                [write, proof],
            )
            return
        recorder.passed(operation, "the victim's password did not change", [write, proof])
        return
    if read_path is None:
        recorder.not_run(operation, "no GET operation to verify the change")
        return
    after = victim.send("GET", read_path)
    deleted = operation.method == "DELETE" and before is not None and before.ok and after.status == 404
    changed = operation.method != "DELETE" and bool(
        visible_changes(sent, before.json() if before is not None else None, after.json())
    )
    if deleted:
        ctx.cache.pop("throwaway-pair", None)
    if deleted or changed:
        recorder.finding(
            operation,
            f"{attacker.name} changed an object of {victim.name}; the change is visible afterwards",
            [write, after],
        )
    else:
        recorder.passed(operation, "the write answered 2xx but changed nothing visible", [write, after])


def _write_created_object(ctx: ScanContext, recorder: Recorder, operation: Operation, root: str) -> None:
    pair = _two_users(ctx)
    if pair is None:
        recorder.not_run(operation, "needs two user identities or a register block")
        return
    owner, attacker = pair
    created = ctx.create_object(root, owner)
    if created is None:
        recorder.not_run(operation, "the scanner could not create an object to change")
        return

    values = {created.param: created.object_id}
    tag = new_tag()
    prepared = ctx.prepare(operation, attacker, values, tag)
    read_path = fill_path(root, values)
    before = owner.send("GET", read_path)
    sent = changed_body(operation.body_schema, before.json(), tag)
    if sent is not None:
        prepared.body = sent

    write = ctx.send(attacker, operation, prepared)
    if not write.ok:
        recorder.passed(operation, f"another user's {operation.method} answered {write.status}", [write])
        return

    after = owner.send("GET", read_path)
    deleted = operation.method == "DELETE" and before.ok and after.status in (404, 410)
    changed = operation.method != "DELETE" and bool(visible_changes(sent or {}, before.json(), after.json()))
    if deleted or changed:
        recorder.finding(
            operation,
            f"{attacker.name} changed an object of {owner.name}; the change is visible afterwards",
            [before, write, after],
        )
    else:
        recorder.passed(operation, "the write answered 2xx but changed nothing visible", [write, after])
    if operation.method == "DELETE":
        ctx.forget_object(owner, root)


@check("id-enumeration")
def id_enumeration(ctx: ScanContext, recorder: Recorder) -> None:
    for operation in ctx.callable_operations(("GET",)):
        params = operation.path_parameters
        if len(params) != 1 or params[0].schema.get("type") != "integer":
            continue
        if ("bola-read", operation.key) in ctx.reported:
            recorder.passed(operation, "already reported as bola-read")
            continue
        pair = _two_users(ctx)
        if pair is None:
            recorder.not_run(operation, "needs two user identities or a register block")
            continue
        _walk_ids(ctx, recorder, operation, *pair)


def _walk_ids(
    ctx: ScanContext, recorder: Recorder, operation: Operation, owner: Identity, walker: Identity
) -> None:
    name = operation.path_parameters[0].name
    known = _object_of(ctx, owner, operation.path)
    foreign_ids = {known[0][name]} if known else set(owner.config.owns.get(name, []))
    hits: list[Response] = []
    foreign_hit = False
    for number in _ENUMERATION_RANGE:
        response = walker.send("GET", fill_path(operation.path, {name: str(number)}))
        if response.ok:
            hits.append(response)
            mentions_owner = bool(owner.username) and f'"{owner.username}"' in response.text
            foreign_hit = foreign_hit or str(number) in foreign_ids or mentions_owner
    if len(hits) < _ENUMERATION_MIN_HITS or not foreign_hit:
        recorder.passed(operation, f"{len(hits)} of ids 1..20 answered 2xx to {walker.name}")
        return
    anonymous = ctx.anonymous.send("GET", hits[0].record.url)
    if anonymous.ok:
        recorder.passed(operation, "the objects are public (anonymous read succeeds)")
        return
    recorder.finding(
        operation,
        f"{walker.name} read {len(hits)} objects by walking ids 1..20, including another user's",
        [*hits[:3], anonymous],
    )
