"""Command-line entry points of apiward.gateway (filled in by the gateway work)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this face's sub-commands to the ``apiward`` command."""
