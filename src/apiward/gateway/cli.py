"""The ``apiward gateway`` command."""

from __future__ import annotations

import logging
from pathlib import Path

import typer

from apiward.policy.loader import PolicyError, load_policy
from apiward.state import check_workers


def register(app: typer.Typer) -> None:
    """Add this face's sub-commands to the ``apiward`` command."""
    app.command("gateway")(gateway)


def gateway(
    config: Path = typer.Option(..., "--config", "-c", help="Policy file (YAML) to serve."),
    workers: int = typer.Option(
        1, "--workers", "-w", min=1, max=256,
        help="Worker processes sharing the listeners through SO_REUSEPORT.",
    ),
    watch: bool = typer.Option(
        True, "--watch/--no-watch", help="Reload when the policy file changes (checked every second).",
    ),
) -> None:
    """Run the security gateway with a policy file; SIGHUP or a file change reloads it."""
    try:
        policy = load_policy(config)
    except PolicyError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(2) from None
    try:
        check_workers(policy, workers)
    except ValueError as error:
        typer.echo(f"{config}: {error}", err=True)
        raise typer.Exit(2) from None
    logging.basicConfig(
        level=policy.logging.level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    from apiward.gateway.workers import run

    raise typer.Exit(run(config, workers, watch=watch))
