"""``apiward policy check FILE``: validate a policy file without starting anything."""

from __future__ import annotations

from pathlib import Path

import typer

from apiward.policy.loader import PolicyError, load_policy

policy_app = typer.Typer(help="Work with policy files.", no_args_is_help=True)


@policy_app.command("check")
def check(file: Path = typer.Argument(..., help="Policy file (YAML) to validate.")) -> None:
    """Validate a policy file and print every problem with its file, line and field path."""
    try:
        policy = load_policy(file)
    except PolicyError as error:
        for problem in error.problems:
            typer.echo(str(problem), err=True)
        raise typer.Exit(1) from None
    counts = ", ".join(
        _count(number, noun)
        for number, noun in (
            (len(policy.routes), "route"),
            (len(policy.upstreams), "upstream"),
            (len(policy.listen), "listener"),
        )
    )
    typer.echo(f"{file}: valid ({counts})")


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def register(app: typer.Typer) -> None:
    app.add_typer(policy_app, name="policy")
