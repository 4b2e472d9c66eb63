"""API9:2023 inventory: old-version, undocumented-path, exposed-docs.

Discovery checks report the concrete path they found with method GET. A target that returns
2xx for a random path (a catch-all) cannot be probed this way, so the checks do not run there.
"""

from __future__ import annotations

import re

from apiward.scanner.client import Response
from apiward.scanner.context import ScanContext, fill_path
from apiward.scanner.registry import Recorder, check
from apiward.scanner.spec import Operation
from apiward.scanner.wordlists import EXPOSED_DOCS_PATHS, SPEC_DOCUMENT_PATHS, UNDOCUMENTED_PATHS

_VERSION = re.compile(r"/v(\d+)(?=/|$)")
_DERIVED_SUFFIXES = (
    "/all",
    "/export",
    "/admin",
    "/internal",
    "/internal/debug",
    "/debug",
    "/backup",
    "/config",
    "/dump",
)
_DEBUG_WORDS = ("debug", "actuator", "console", "server-status", "phpinfo", "graphiql", "env")


def _template_regex(template: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\\\{[^{}]+\\\}", "[^/]+", re.escape(template)) + "/?$")


def documented(ctx: ScanContext, path: str) -> bool:
    """True when ``path`` matches a path template of the spec."""
    if "documented-regexes" not in ctx.cache:
        ctx.cache["documented-regexes"] = [_template_regex(item) for item in ctx.spec.paths]
    return any(regex.match(path) for regex in ctx.cache["documented-regexes"])


def _catch_all(ctx: ScanContext) -> Response | None:
    """Return the response to a random path when it is 2xx (a catch-all), else None."""
    if "catch-all" not in ctx.cache:
        response = ctx.client.send("GET", "/aw-no-such-path-4d1c")
        ctx.cache["catch-all"] = response if response.ok else None
    result: Response | None = ctx.cache["catch-all"]
    return result


def _answers(ctx: ScanContext, path: str) -> Response | None:
    users = ctx.users()
    identity = users[0] if users else ctx.anonymous
    response = identity.send("GET", path)
    return response if response.ok else None


@check("old-version")
def old_version(ctx: ScanContext, recorder: Recorder) -> None:
    if _catch_all(ctx) is not None:
        recorder.not_run(None, "the target answers 2xx for any path")
        return
    candidates: dict[str, Operation] = {}
    for operation in ctx.callable_operations(("GET",)):
        match = _VERSION.search(operation.path)
        if match is None:
            continue
        for older in range(int(match.group(1)) - 1, -1, -1):
            path = operation.path[: match.start()] + f"/v{older}" + operation.path[match.end() :]
            if not documented(ctx, path):
                candidates.setdefault(path, operation)
    if not candidates:
        recorder.not_run(None, "the spec has no versioned path with an older version to try")
        return
    found = 0
    for path, current in candidates.items():
        identity = ctx.best_identity(current)
        prepared = ctx.prepare(current, identity)
        concrete = fill_path(path, prepared.path_values)
        response = identity.send("GET", concrete, params=prepared.params or None)
        if response.ok:
            found += 1
            recorder.finding(
                ("GET", path), f"an older version of {current.path} answers {response.status}", [response]
            )
    if not found:
        recorder.passed(None, f"{len(candidates)} older version paths answered no 2xx")


def _directories(ctx: ScanContext) -> list[str]:
    """Return every fixed path prefix of the spec's paths ("/api", "/api/v1", ...)."""
    prefixes: set[str] = set()
    for template in ctx.spec.paths:
        segments = template.strip("/").split("/")
        for end in range(1, len(segments) + 1):
            if "{" in segments[end - 1]:
                break
            prefixes.add("/" + "/".join(segments[:end]))
    return sorted(prefixes)


def _derived_paths(ctx: ScanContext) -> list[str]:
    paths = list(UNDOCUMENTED_PATHS)
    for prefix in _directories(ctx):
        paths += [prefix + suffix for suffix in _DERIVED_SUFFIXES]
    return list(dict.fromkeys(path for path in paths if not documented(ctx, path)))


@check("undocumented-path")
def undocumented_path(ctx: ScanContext, recorder: Recorder) -> None:
    if _catch_all(ctx) is not None:
        recorder.not_run(None, "the target answers 2xx for any path")
        return
    docs = set(EXPOSED_DOCS_PATHS)
    candidates = [path for path in _derived_paths(ctx) if path not in docs]
    found = 0
    for path in candidates:
        response = _answers(ctx, path)
        if response is not None:
            found += 1
            recorder.finding(("GET", path), f"an undocumented path answers {response.status}", [response])
    if not found:
        recorder.passed(None, f"{len(candidates)} undocumented paths answered no 2xx")


@check("exposed-docs")
def exposed_docs(ctx: ScanContext, recorder: Recorder) -> None:
    if _catch_all(ctx) is not None:
        recorder.not_run(None, "the target answers 2xx for any path")
        return
    # When the scan loaded its spec from the target, the operator treats the spec document as
    # public, so its other spellings are skipped. Documentation pages and debug endpoints are
    # still reported.
    spec_is_public = bool(ctx.cache.get("spec-path-on-target"))
    found = 0
    for path in EXPOSED_DOCS_PATHS:
        is_debug = any(word in path for word in _DEBUG_WORDS)
        if documented(ctx, path) or (spec_is_public and path in SPEC_DOCUMENT_PATHS):
            continue
        response = _answers(ctx, path)
        if response is not None:
            found += 1
            recorder.finding(
                ("GET", path),
                f"{'debug endpoint' if is_debug else 'API documentation'} answers {response.status}",
                [response],
            )
    if not found:
        recorder.passed(None, "no documentation or debug endpoint answered 2xx")
