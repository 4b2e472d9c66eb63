"""Shared state of one scan: the spec, the identities, request building and created objects."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from apiward.scanner.auth import ANONYMOUS, AuthFile, Identity, IdentityConfig, register_account
from apiward.scanner.client import Response, ScanClient
from apiward.scanner.spec import ApiSpec, Operation, Parameter
from apiward.scanner.values import generate, new_tag, schema_type

_PARAM = re.compile(r"\{([^{}]+)\}")
USER_PARAM_NAMES = frozenset({"username", "user", "user_name", "login", "name", "account", "handle"})
LOGIN_WORDS = ("login", "signin", "sign-in", "token", "auth")


@dataclass
class Prepared:
    """A request ready to send for one operation."""

    path: str
    params: dict[str, Any] = field(default_factory=dict)
    body: Any = None
    path_values: dict[str, str] = field(default_factory=dict)


@dataclass
class Created:
    """An object the scanner created, so that changing or deleting it affects no one else's data."""

    owner: Identity
    collection: Operation
    item_path: str
    param: str
    object_id: str
    body: dict[str, Any]


class ScanContext:
    def __init__(
        self, spec: ApiSpec, client: ScanClient, auth: AuthFile, *, allow_destructive: bool = False
    ) -> None:
        self.spec = spec
        self.client = client
        self.auth = auth
        self.allow_destructive = allow_destructive
        self.anonymous = Identity(ANONYMOUS, IdentityConfig(), None, client)
        self.identities: dict[str, Identity] = {
            name: Identity(name, config, auth.login, client) for name, config in auth.identities.items()
        }
        self.throwaways: list[Identity] = []
        self._created: dict[str, Created | None] = {}
        self.cache: dict[str, Any] = {}
        self.reported: set[tuple[str, str]] = set()
        """(check, "METHOD /path") of every finding so far, for checks that defer to another."""

    # -- identities -------------------------------------------------------------------------

    def users(self) -> list[Identity]:
        """Identities with credentials and without the admin role."""
        return [
            identity for identity in self.identities.values() if not identity.anonymous and not identity.admin
        ]

    def admin(self) -> Identity | None:
        return next((identity for identity in self.identities.values() if identity.admin), None)

    def best_identity(self, operation: Operation) -> Identity:
        """Return a user identity for secured operations, else the anonymous one."""
        users = self.users()
        if operation.secured and users:
            return users[0]
        return users[0] if users else self.anonymous

    def can_register(self) -> bool:
        return (
            self.auth.register_ is not None
            and self.auth.login is not None
            and len(self.throwaways) < self.auth.register_.max_accounts
        )

    def throwaway(self) -> Identity | None:
        """Register and log in a new throwaway account, or return None when not possible."""
        if not self.can_register():
            return None
        username, password, response = register_account(self.client, self.auth)
        if not response.ok:
            return None
        identity = Identity(
            f"throwaway-{len(self.throwaways) + 1}",
            IdentityConfig(username=username, password=password, roles=["user"]),
            self.auth.login,
            self.client,
            throwaway=True,
        )
        self.throwaways.append(identity)
        return identity

    # -- operations -------------------------------------------------------------------------

    def is_dangerous(self, operation: Operation) -> bool:
        names = {entry.strip() for entry in self.auth.dangerous}
        return (
            operation.key in names
            or operation.operation_id in names
            or f"{operation.method.lower()} {operation.path}" in names
        )

    def is_login(self, operation: Operation) -> bool:
        login = self.auth.login
        if login is not None:
            return operation.method == login.method.upper() and operation.path == login.path
        return operation.method == "POST" and any(word in operation.path.lower() for word in LOGIN_WORDS)

    def is_register(self, operation: Operation) -> bool:
        register = self.auth.register_
        return (
            register is not None
            and operation.method == register.method.upper()
            and operation.path == register.path
        )

    def callable_operations(self, methods: tuple[str, ...] = ("GET",)) -> list[Operation]:
        return [
            operation
            for operation in self.spec.operations
            if operation.method in methods and not self.is_dangerous(operation)
        ]

    # -- request building -------------------------------------------------------------------

    def value_for(self, param: Parameter, identity: Identity | None, tag: str) -> Any:
        if identity is not None:
            owned = identity.config.owns.get(param.name)
            if owned:
                return owned[0]
            if param.name.lower() in USER_PARAM_NAMES and identity.username:
                return identity.username
        if param.name in self.auth.values:
            return self.auth.values[param.name]
        if param.example is not None:
            return param.example
        return generate(param.schema, tag, param.name)

    def prepare(
        self,
        operation: Operation,
        identity: Identity | None = None,
        path_values: dict[str, str] | None = None,
        tag: str | None = None,
    ) -> Prepared:
        tag = tag or new_tag()
        values = dict(path_values or {})
        for param in operation.path_parameters:
            if param.name not in values:
                values[param.name] = str(self.value_for(param, identity, tag))
        params = {
            param.name: self.value_for(param, identity, tag)
            for param in operation.parameters
            if param.location == "query" and param.required
        }
        body = None
        if operation.body_schema is not None:
            body = (
                operation.body_example
                if operation.body_example is not None
                else generate(operation.body_schema, tag)
            )
            if isinstance(body, dict):
                body = {key: self._body_value(key, value, identity) for key, value in body.items()}
        return Prepared(fill_path(operation.path, values), params, body, values)

    def _body_value(self, key: str, generated: Any, identity: Identity | None) -> Any:
        if key in self.auth.values:
            return self.auth.values[key]
        if identity is not None and identity.username and key.lower() in USER_PARAM_NAMES:
            return identity.username
        return generated

    def send(
        self, identity: Identity, operation: Operation, prepared: Prepared, **overrides: Any
    ) -> Response:
        kwargs: dict[str, Any] = {"params": prepared.params or None}
        if prepared.body is not None:
            if operation.body_media_type == "application/json":
                kwargs["json"] = prepared.body
            else:
                kwargs["data_form"] = prepared.body
        kwargs.update(overrides)
        form = kwargs.pop("data_form", None)
        if form is not None:
            from urllib.parse import urlencode

            kwargs["content"] = urlencode(form, doseq=True).encode()
            kwargs["headers"] = {
                "Content-Type": "application/x-www-form-urlencoded",
                **(kwargs.get("headers") or {}),
            }
        return identity.send(operation.method, prepared.path, **kwargs)

    # -- created objects --------------------------------------------------------------------

    def collection_for(self, item_path: str) -> Operation | None:
        """Return the POST operation that creates objects read at ``item_path``."""
        parent, _, last = item_path.rstrip("/").rpartition("/")
        if not _PARAM.fullmatch(last):
            return None
        operation = self.spec.find("POST", parent)
        if operation is None or self.is_dangerous(operation) or operation.body_schema is None:
            return None
        return operation

    def item_root(self, path: str) -> str | None:
        """Return the longest prefix of ``path`` that ends with a path parameter."""
        segments = path.split("/")
        for end in range(len(segments), 0, -1):
            if _PARAM.fullmatch(segments[end - 1]):
                return "/".join(segments[:end])
        return None

    def create_object(self, item_path: str, owner: Identity) -> Created | None:
        """Create an object through the collection's POST as ``owner`` (cached per owner and path)."""
        key = f"{owner.name} {item_path}"
        if key in self._created:
            return self._created[key]
        self._created[key] = None
        collection = self.collection_for(item_path)
        param = _PARAM.findall(item_path)[-1] if _PARAM.search(item_path) else ""
        if collection is None or not param:
            return None
        prepared = self.prepare(collection, owner)
        if not isinstance(prepared.body, dict):
            return None
        response = self.send(owner, collection, prepared)
        object_id = _find_id(response, prepared.body, param) if response.ok else None
        if object_id is None:
            return None
        created = Created(owner, collection, item_path, param, object_id, prepared.body)
        self._created[key] = created
        return created

    def representative_get(self, secured: bool) -> tuple[Operation, Identity, Prepared, Response] | None:
        """Return the first GET without path parameters that returns 2xx (cached).

        Target-wide checks (headers, CORS, rate limit, TRACE) probe this operation and report
        it. ``secured`` prefers operations that need credentials (CORS with credentials
        matters there); otherwise public operations come first. Falls back to the other kind.
        """
        key = f"representative-get {secured}"
        if key not in self.cache:
            candidates = [
                operation
                for operation in self.callable_operations(("GET",))
                if not operation.path_parameters and operation.path not in ("", "/")
            ]
            candidates.sort(key=lambda operation: operation.secured != secured)
            self.cache[key] = None
            for operation in candidates:
                identity = self.best_identity(operation) if operation.secured else self.anonymous
                prepared = self.prepare(operation, identity)
                response = self.send(identity, operation, prepared)
                if response.ok:
                    self.cache[key] = (operation, identity, prepared, response)
                    break
        found: tuple[Operation, Identity, Prepared, Response] | None = self.cache[key]
        return found

    def write_account(self) -> Identity | None:
        """Return the throwaway account that checks may change freely (registered once)."""
        if "write-account" not in self.cache:
            self.cache["write-account"] = self.throwaway()
        account: Identity | None = self.cache["write-account"]
        return account

    def write_target(self, operation: Operation) -> tuple[Identity, dict[str, str]] | None:
        """Return (identity, path values) under which ``operation`` harms no one else's data.

        GET and POST are sent as they are. PUT, PATCH and DELETE go to a throwaway account's own
        record or to an object the scanner created; otherwise only with --allow-destructive.
        """
        if operation.method in ("GET", "POST", "HEAD", "OPTIONS"):
            return self.best_identity(operation), {}
        root = self.item_root(operation.path)
        names = path_params(root) if root else []
        if not names or names[-1].lower() in USER_PARAM_NAMES:
            account = self.write_account()
            if account is not None:
                return account, ({names[-1]: account.username or ""} if names else {})
        if root is not None:
            for user in self.users()[:1]:
                created = self.create_object(root, user)
                if created is not None:
                    return user, {created.param: created.object_id}
        if self.allow_destructive:
            return self.best_identity(operation), {}
        return None

    def forget_object(self, owner: Identity, item_path: str) -> None:
        """Drop a created object from the cache after a check deleted it."""
        self._created.pop(f"{owner.name} {item_path}", None)


def fill_path(template: str, values: dict[str, str]) -> str:
    return _PARAM.sub(lambda match: quote(str(values.get(match.group(1), "1")), safe=""), template)


def path_params(template: str) -> list[str]:
    return _PARAM.findall(template)


def _find_id(response: Response, body: dict[str, Any], param: str) -> str | None:
    document = response.json()
    candidates = [param, "id", "_id", "uuid", param.removesuffix("_id"), "key"]
    nodes = [document]
    if isinstance(document, dict):
        nodes += [value for value in document.values() if isinstance(value, dict)]
    for node in nodes:
        if isinstance(node, dict):
            for name in candidates:
                value = node.get(name)
                if isinstance(value, str | int) and not isinstance(value, bool):
                    return str(value)
    location: str | None = response.headers.get("location")
    if location:
        return location.rstrip("/").rpartition("/")[2]
    value = body.get(param)
    return str(value) if isinstance(value, str | int) else None


def credential_field(name: str) -> bool:
    """True for body fields whose new value would become the account's password."""
    return "password" in name.lower() or name.lower() in ("passwd", "pwd", "secret")


def string_fields(schema: dict[str, Any] | None) -> list[str]:
    """Names of top-level string properties of an object schema."""
    if not schema or schema_type(schema) != "object":
        return []
    return [
        name
        for name, prop in (schema.get("properties") or {}).items()
        if isinstance(prop, dict) and schema_type(prop) == "string" and not prop.get("enum")
    ]
