"""Edge cases of the lab's server-side tools: command timeouts and odd file names."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from lab_helpers import lab_client

from apiward.lab import routes_tools


def processes_with(marker: str) -> list[str]:
    """Return the pids of processes whose command line contains ``marker``."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if marker in cmdline.read_bytes().decode(errors="replace"):
                found.append(cmdline.parent.name)
        except (FileNotFoundError, ProcessLookupError):
            continue
    return found


async def test_checksum_timeout_kills_background(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(routes_tools, "COMMAND_TIMEOUT_SECONDS", 0.5)
    text = "x; sleep 30.4242 & sleep 30.4243"
    async with lab_client() as client:
        response = await client.post("/api/v1/tools/checksum", json={"text": text})

    assert response.status_code == 504
    assert response.json()["detail"] == "checksum command timed out"
    assert processes_with("30.4242") == []
    assert processes_with("30.4243") == []


async def test_fixed_checksum_is_sha256() -> None:
    async with lab_client(fixed=True) as client:
        response = await client.post("/api/v1/tools/checksum", json={"text": "$(echo lab)"})
    # The digest of the literal text shows that no shell expanded it.
    assert response.json()["sha256"] == hashlib.sha256(b"$(echo lab)").hexdigest()


@pytest.mark.parametrize("fixed", [False, True])
async def test_file_name_with_nul(fixed: bool) -> None:
    async with lab_client(fixed=fixed) as client:
        response = await client.get("/api/v1/files", params={"name": "welcome.txt\x00.png"})
    assert response.status_code == 400
    assert "NUL character" in response.json()["detail"]


@pytest.mark.parametrize("fixed", [False, True])
async def test_file_download_serves_lab_file(fixed: bool) -> None:
    async with lab_client(fixed=fixed) as client:
        response = await client.get("/api/v1/files", params={"name": "welcome.txt"})
    assert response.status_code == 200
    assert response.text.startswith("Welcome to the apiward lab.")


async def test_fixed_file_rejects_folder_itself() -> None:
    async with lab_client(fixed=True) as client:
        response = await client.get("/api/v1/files", params={"name": "."})
    assert response.status_code == 400
