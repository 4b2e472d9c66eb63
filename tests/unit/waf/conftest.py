"""Fixtures of the WAF unit tests: engines built once per module, since compiling takes seconds."""

from __future__ import annotations

import pytest

from apiward.waf.engine import Engine, Settings


@pytest.fixture(scope="session")
def engine() -> Engine:
    return Engine(Settings(paranoia=1))


@pytest.fixture(scope="session")
def engine_pl4() -> Engine:
    return Engine(Settings(paranoia=4))
