"""Session checks that apply to every test."""

from __future__ import annotations

import pytest

from apiward.native import stale_extensions


def pytest_sessionstart(session: pytest.Session) -> None:
    # A compiled extension older than its source would run the code of an earlier build.
    stale = stale_extensions()
    if stale:
        names = ", ".join(path.name for path in stale)
        pytest.exit(f"compiled modules older than their sources: {names}; run 'make compiled' "
                    "(or .venv/bin/python scripts/build_compiled.py) first", returncode=2)
