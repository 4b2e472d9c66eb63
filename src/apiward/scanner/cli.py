"""The ``apiward scan`` command."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn

from apiward.scanner.errors import ScanError, TargetError, UsageError
from apiward.scanner.findings import Severity, Status

EXIT_FINDING = 1
EXIT_USAGE = 2


PIPED_WIDTH = 160
"""Columns of the terminal report when the output is not a terminal."""


def register(app: typer.Typer) -> None:
    """Add ``apiward scan`` to the ``apiward`` command."""
    app.command("scan", help="Test a live API for the OWASP API Security Top 10 (2023) and injection.")(scan)


def scan(
    spec: str = typer.Option(..., "--spec", help="OpenAPI 3.x or Swagger 2.0 file, or a URL on the target."),
    target: str = typer.Option(..., "--target", help="Base URL of the API; only this origin is contacted."),
    auth_file: Path | None = typer.Option(
        None, "--auth-file", help="YAML file with identities, dangerous operations and flows."
    ),
    output_format: str = typer.Option("terminal", "--format", help="terminal, json, sarif, html or junit."),
    output: Path | None = typer.Option(None, "--output", help="Write the report to this file."),
    fail_on: str = typer.Option(
        "high",
        "--fail-on",
        help="Exit 1 when a finding has at least this severity: low, medium, high or critical.",
    ),
    budget: int = typer.Option(5000, "--budget", help="Maximum number of requests of the whole scan."),
    rate: float = typer.Option(50.0, "--rate", help="Maximum requests per second."),
    timeout: float = typer.Option(10.0, "--timeout", help="Per-request timeout in seconds."),
    checks: str | None = typer.Option(None, "--checks", help="Comma-separated check names (default: all)."),
    har: Path | None = typer.Option(
        None, "--har", help="HAR file of every exchange (default: beside --output, else scan.har)."
    ),
    patch_out: Path | None = typer.Option(
        None, "--patch-out", help="Write gateway routes that mitigate the findings to this YAML file."
    ),
    allow_destructive: bool = typer.Option(
        False,
        "--allow-destructive",
        help="Also send PUT, PATCH and DELETE to objects the scanner did not create.",
    ),
    insecure: bool = typer.Option(False, "--insecure", help="Skip TLS certificate verification."),
) -> None:
    from apiward.scanner.engine import select_checks
    from apiward.scanner.har import HarLog
    from apiward.scanner.patches import build_patches
    from apiward.scanner.reports import FORMATS, render
    from apiward.scanner.reports.terminal import show, summary_line
    from apiward.scanner.scan import ScanOptions, run_scan

    console = Console(stderr=output is None and output_format != "terminal", soft_wrap=True)
    if not console.is_terminal:
        # Piped or redirected output has no width to follow; Rich's default of 80 columns would
        # cut check names and paths in the findings table.
        console.width = PIPED_WIDTH
    try:
        if output_format not in FORMATS:
            raise UsageError(f"invalid --format {output_format!r}; expected one of: {', '.join(FORMATS)}")
        threshold = Severity.parse(fail_on)
        names = select_checks(checks)
    except (UsageError, ValueError) as error:
        console.print(f"[red]error:[/] {error}")
        raise typer.Exit(EXIT_USAGE) from None
    options = ScanOptions(
        spec=spec,
        target=target,
        auth_file=auth_file,
        checks=tuple(names),
        budget=budget,
        rate=rate,
        timeout=timeout,
        insecure=insecure,
        allow_destructive=allow_destructive,
    )
    har_log = HarLog()
    if insecure:
        console.print("[yellow]warning:[/] TLS certificate verification is off (--insecure)")
    try:
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            console=Console(stderr=True),
            transient=True,
        ) as progress:
            task = progress.add_task("scanning", total=len(names))

            def advance(name: str) -> None:
                progress.update(task, description=f"check {name}", advance=1)

            report = run_scan(options, har_log, advance)
    except (UsageError, TargetError) as error:
        console.print(f"[red]error:[/] {error}")
        raise typer.Exit(EXIT_USAGE) from None
    except ScanError as error:
        console.print(f"[red]error:[/] scan failed: {error}")
        raise typer.Exit(EXIT_USAGE) from None
    har_path = har or (output.with_suffix(".har") if output else Path("scan.har"))
    har_log.write(har_path)
    if output_format == "terminal" and output is None:
        show(report, console)
        console.print(f"every request and response is in {har_path}")
    else:
        text = render(report, output_format)
        if output is None:
            typer.echo(text, nl=False)
        else:
            output.write_text(text, encoding="utf-8")
            typer.echo(f"{summary_line(report)}; report in {output}, HAR in {har_path}", err=True)
    if patch_out is not None:
        patch_out.write_text(build_patches(report), encoding="utf-8")
    if any(
        result.status is Status.FINDING and (result.severity or 0) >= threshold for result in report.results
    ):
        raise typer.Exit(EXIT_FINDING)
