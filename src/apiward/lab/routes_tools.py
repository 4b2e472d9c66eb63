"""Server-side tools: webhook test (SSRF), checksum (OS command), file download, greeting (SSTI)."""

from __future__ import annotations

import logging
import os
import platform
import signal
import subprocess
from pathlib import Path

import httpx
import jinja2
from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import PlainTextResponse
from jinja2.sandbox import SandboxedEnvironment
from pydantic import BaseModel, Field

from apiward.lab import ssrf
from apiward.lab.context import CurrentUser, Lab, LabContext

COMMAND_TIMEOUT_SECONDS = 5.0
# A clean environment for the shell, so an injected command cannot read the server's variables.
COMMAND_ENVIRONMENT = {"PATH": "/usr/bin:/bin", "LC_ALL": "C"}
MAX_FILE_BYTES = 1024 * 1024

logger = logging.getLogger("apiward.lab")


class WebhookTest(BaseModel):
    url: str = Field(min_length=1, max_length=2048, json_schema_extra={"format": "uri"})


class WebhookResult(BaseModel):
    status: int
    body: str


class ChecksumRequest(BaseModel):
    text: str = Field(max_length=200)


class ChecksumOut(BaseModel):
    sha256: str


class DebugOut(BaseModel):
    jwt_secret: str
    open_holes: list[str]
    python: str


def _run_sha256(argv: list[str], stdin: str) -> str:
    """Run ``argv`` and return the first word of its output, the digest printed by sha256sum.

    The command runs in a process group of its own, so a timeout kills everything an injected
    command started in the background, not only the shell.
    """
    with subprocess.Popen(
        argv,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=COMMAND_ENVIRONMENT,
        start_new_session=True,
    ) as process:
        try:
            output, _ = process.communicate(stdin, timeout=COMMAND_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            raise
    return output.split(" ", 1)[0]


def _sha256_through_shell(text: str) -> str:
    # The hole: the text is pasted unquoted into a shell command line, so ; | $( ) all work.
    return _run_sha256(["/bin/sh", "-c", f"echo {text} | sha256sum"], "")


def _sha256_without_shell(text: str) -> str:
    return _run_sha256(["sha256sum"], text)


def _file_path(lab: LabContext, name: str) -> Path:
    if lab.is_open("path-traversal"):
        # The hole: "../x" climbs out of the folder, and an absolute name replaces it entirely.
        return lab.files_dir / name
    base = lab.files_dir.resolve()
    candidate = (base / name).resolve()
    if not candidate.is_relative_to(base) or candidate == base:
        raise HTTPException(400, detail=f"invalid file name {name!r}; use a name from the files folder")
    return candidate


def _render_greeting(lab: LabContext, name: str) -> str:
    if lab.is_open("ssti"):
        # The hole: user input becomes template source, so {{ ... }} in it is evaluated.
        try:
            return jinja2.Environment().from_string("Hello " + name + "!").render()
        except jinja2.TemplateError as error:
            raise HTTPException(400, detail=f"template error: {error}") from error
    return SandboxedEnvironment(autoescape=True).from_string("Hello {{ name }}!").render(name=name)


def build_router(context: LabContext) -> APIRouter:
    router = APIRouter(tags=["tools"])

    @router.post("/api/v1/webhooks/test", response_model=WebhookResult, summary="Call a webhook URL once")
    async def test_webhook(lab: Lab, user: CurrentUser, webhook: WebhookTest) -> WebhookResult:
        try:
            url, host_header = ssrf.checked_destination(webhook.url, allow_loopback=lab.is_open("ssrf"))
        except ssrf.DestinationRejected as error:
            logger.warning("webhook test rejected for user %s: %s", user["username"], error)
            raise HTTPException(400, detail=str(error)) from error
        try:
            status, body = await ssrf.fetch(url, host_header)
        except httpx.HTTPError as error:
            logger.warning("webhook test to %s failed: %r", url, error)
            raise HTTPException(502, detail=f"webhook call failed: {error.__class__.__name__}") from error
        return WebhookResult(status=status, body=body)

    @router.post("/api/v1/tools/checksum", response_model=ChecksumOut, summary="SHA-256 of a text")
    def checksum(lab: Lab, request: ChecksumRequest) -> ChecksumOut:
        try:
            if lab.is_open("os-command"):
                return ChecksumOut(sha256=_sha256_through_shell(request.text))
            return ChecksumOut(sha256=_sha256_without_shell(request.text))
        except subprocess.TimeoutExpired as error:
            logger.warning("checksum command timed out after %s s", COMMAND_TIMEOUT_SECONDS)
            raise HTTPException(504, detail="checksum command timed out") from error

    @router.get(
        "/api/v1/files", response_class=PlainTextResponse, summary="Download a file from the lab folder"
    )
    def download_file(lab: Lab, name: str = Query(min_length=1, max_length=256)) -> PlainTextResponse:
        if "\x00" in name:
            raise HTTPException(400, detail="invalid file name: it contains a NUL character")
        path = _file_path(lab, name)
        try:
            with path.open("rb") as handle:
                content = handle.read(MAX_FILE_BYTES)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError) as error:
            raise HTTPException(404, detail=f"file {name!r} not found") from error
        return PlainTextResponse(content.decode("utf-8", errors="replace"))

    @router.get("/api/v1/greetings", response_class=PlainTextResponse, summary="A greeting for a name")
    def greeting(lab: Lab, name: str = Query(min_length=1, max_length=200)) -> PlainTextResponse:
        return PlainTextResponse(_render_greeting(lab, name))

    if context.is_open("undocumented-path"):

        @router.get("/api/v1/internal/debug", response_model=DebugOut, include_in_schema=False)
        def debug(lab: Lab) -> DebugOut:
            return DebugOut(
                jwt_secret=lab.tokens.secret,
                open_holes=lab.holes.open_ids(),
                python=platform.python_version(),
            )

    return router
