"""Fixtures of the WAF integration tests: the shared gateway harness and the corpus location."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.support.fixtures import echo_upstream, start_gateway  # noqa: F401

SHARED = Path(__file__).resolve().parents[3] / ".." / "shared"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The directory beside the repository that holds the corpora and the replay tool."""
    corpora = SHARED / "corpora"
    if not (corpora / "crs" / "cases.jsonl").is_file():
        pytest.fail(
            f"WAF corpora not found in {corpora.resolve()}; the corpus tests need shared/ beside the clone"
        )
    return SHARED.resolve()
