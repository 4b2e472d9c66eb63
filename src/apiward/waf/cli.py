"""Command-line entry points of apiward.waf (filled in by the waf work)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this face's sub-commands to the ``apiward`` command."""
