"""The ``apiward lab`` commands (serve, holes, lesson) and ``apiward demo``."""

from __future__ import annotations

from importlib import resources

import typer

from apiward.lab.holes import hole_ids, load_holes, read_lesson

lab_app = typer.Typer(
    name="lab",
    help="The deliberately vulnerable lab API and its lessons.",
    no_args_is_help=True,
    add_completion=False,
)

VULNERABLE_WARNING = (
    "WARNING: the lab API is deliberately vulnerable (SQL injection, command injection, file "
    "disclosure). Serving it on {host} lets every machine that reaches this address attack it."
)


def register(app: typer.Typer) -> None:
    """Add this face's sub-commands to the ``apiward`` command."""
    app.add_typer(lab_app)
    app.command("demo")(demo)


@lab_app.command("serve")
def serve(
    port: int = typer.Option(8801, "--port", "-p", min=1, max=65535, help="TCP port to listen on."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on; loopback unless forced."),
    fixed: bool = typer.Option(False, "--fixed", help="Close every hole."),
    fixed_holes: list[str] = typer.Option(
        [], "--fix", help="Close one hole by id (repeatable); see `apiward lab holes`."
    ),
    log_level: str = typer.Option(
        "info", "--log-level", help="uvicorn log level: critical, error, warning, info or debug."
    ),
    allow_remote: bool = typer.Option(
        False,
        "--i-understand-this-is-vulnerable",
        help="Allow a --host that is not loopback. Other machines can then exploit the lab.",
    ),
) -> None:
    """Serve the vulnerable lab API (127.0.0.1 only unless forced)."""
    from apiward.lab.serve import ServeError, is_loopback, serve_lab

    if not is_loopback(host):
        if not allow_remote:
            typer.echo(
                f"refusing to serve the vulnerable lab on {host}: only loopback addresses are allowed; "
                "add --i-understand-this-is-vulnerable to override",
                err=True,
            )
            raise typer.Exit(2)
        typer.secho(VULNERABLE_WARNING.format(host=host), err=True, fg=typer.colors.RED)

    unknown = sorted(set(fixed_holes) - set(hole_ids()))
    if unknown:
        typer.echo(f"unknown hole ids {unknown}; run `apiward lab holes` for the list", err=True)
        raise typer.Exit(2)

    try:
        serve_lab(host, port, True if fixed else set(fixed_holes), log_level)
    except ServeError as error:
        typer.echo(f"{error}; choose another port with --port", err=True)
        raise typer.Exit(2) from None


@lab_app.command("holes")
def holes() -> None:
    """List the lab's holes: id, category, method and path."""
    for hole in load_holes():
        typer.echo(f"{hole.id:24} {hole.category:10} {hole.method:6} {hole.path}")


def _lesson_setup() -> str:
    """Return the shell set-up that defines $LAB, $ALICE and $BOB, from the lessons' README."""
    text = resources.files("apiward.lab").joinpath("lessons", "README.md").read_text(encoding="utf-8")
    start = text.index("```sh")
    end = text.index("```", start + 5) + 3
    return "The commands below use $LAB, $ALICE and $BOB. Set them once:\n\n" + text[start:end] + "\n"


@lab_app.command("lesson")
def lesson(hole_id: str = typer.Argument(..., help="Hole id, as listed by `apiward lab holes`.")) -> None:
    """Print the lesson of one hole (Markdown)."""
    for hole in load_holes():
        if hole.id == hole_id:
            typer.echo(_lesson_setup())
            typer.echo(read_lesson(hole))
            return
    typer.echo(f"unknown hole id {hole_id!r}; run `apiward lab holes` for the list", err=True)
    raise typer.Exit(2)


def demo(
    port_base: int = typer.Option(
        8800,
        "--port-base",
        min=1024,
        max=65000,
        help="First of three ports: gateway on it, lab API on +1, gateway admin on +2.",
    ),
    fixed: bool = typer.Option(False, "--fixed", help="Start the lab with every hole closed."),
) -> None:
    """Start the lab API and the gateway in front of it on 127.0.0.1; Ctrl-C stops both."""
    from apiward.lab.demo import DemoError, run_demo

    try:
        code = run_demo(port_base, fixed)
    except DemoError as error:
        typer.echo(f"demo failed: {error}", err=True)
        raise typer.Exit(2) from None
    raise typer.Exit(code)
