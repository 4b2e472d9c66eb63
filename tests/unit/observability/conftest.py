import logging
from collections.abc import Iterator

import pytest
import structlog

from apiward.observability import logs


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """Undo configure_logging so other tests see the default logging set-up."""
    root = logging.getLogger()
    level = root.level
    yield
    if logs._handler is not None:
        root.removeHandler(logs._handler)
        logs._handler = None
    root.setLevel(level)
    structlog.reset_defaults()
