"""The ``apiward`` command: one entry point whose sub-commands call into the faces."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="apiward",
    help="Protect HTTP APIs and learn how: gateway, WAF, scanner and lab.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _register() -> None:
    from apiward.gateway.cli import register as register_gateway
    from apiward.lab.cli import register as register_lab
    from apiward.policy.cli import register as register_policy
    from apiward.scanner.cli import register as register_scanner
    from apiward.state.cli import register as register_state
    from apiward.waf.cli import register as register_waf

    for register in (
        register_gateway, register_policy, register_waf, register_state, register_scanner, register_lab,
    ):
        register(app)


def main() -> None:
    _register()
    app()
