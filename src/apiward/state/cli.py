"""``apiward bans list|add|remove``: manage client bans in the shared state back end.

The back end is named by ``--state URL`` or by the ``state:`` of ``--policy FILE``. Bans in a
``memory`` state live inside one gateway process and cannot be reached from this command.
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import typer

from apiward.state import IPV6_BAN_PREFIX, StateError, StateStore, open_state

T = TypeVar("T")

bans_app = typer.Typer(help="List, add and remove client bans in the shared state.", no_args_is_help=True)

_STATE = typer.Option(None, "--state", help="State back end URL, e.g. redis://127.0.0.1:6379/0.")
_POLICY = typer.Option(None, "--policy", help="Policy file whose state: names the back end.")


def ban_target(text: str) -> str:
    """Return the key the gateway bans ``text`` under: an IPv4 address or an IPv6 /64."""
    try:
        network = ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        raise typer.BadParameter(f"invalid client {text!r}; expected an IP address or an IPv6 /64") from None
    if network.version == 4:
        if network.prefixlen != 32:
            raise typer.BadParameter(f"invalid client {text!r}; IPv4 bans are per address (/32)")
        return str(network.network_address)
    if network.prefixlen < IPV6_BAN_PREFIX:
        raise typer.BadParameter(f"invalid client {text!r}; IPv6 bans cover one /64")
    return str(network.supernet(new_prefix=IPV6_BAN_PREFIX))


def _state_url(state: str | None, policy: Path | None) -> str:
    if state is None and policy is not None:
        from apiward.policy.loader import PolicyError, load_policy

        try:
            state = load_policy(policy).state
        except PolicyError as error:
            typer.echo(str(error), err=True)
            raise typer.Exit(2) from None
    if state is None:
        raise typer.BadParameter("name the state back end with --state URL or --policy FILE")
    if state == "memory":
        typer.echo(
            "error: state 'memory' keeps bans inside the gateway process; "
            "use a redis:// state to manage bans from the command line", err=True,
        )
        raise typer.Exit(2)
    return state


def _run(url: str, action: Callable[[StateStore], Coroutine[Any, Any, T]]) -> T:
    async def main() -> T:
        try:
            store = open_state(url)
        except ValueError as error:
            typer.echo(f"error: {error}", err=True)
            raise typer.Exit(2) from None
        try:
            return await action(store)
        except StateError as error:
            typer.echo(f"error: {error}", err=True)
            raise typer.Exit(1) from None
        finally:
            await store.close()

    return asyncio.run(main())


def _time(epoch: float) -> str:
    return datetime.datetime.fromtimestamp(epoch, datetime.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


@bans_app.command("list")
def list_bans(state: str | None = _STATE, policy: Path | None = _POLICY) -> None:
    """Print every ban in force: client, expiry and reason."""
    bans = _run(_state_url(state, policy), lambda store: store.list_bans())
    if not bans:
        typer.echo("no bans in force")
    for ban in bans:
        typer.echo(f"{ban.client}\tuntil {_time(ban.until)}\t{ban.reason}")


@bans_app.command("add")
def add_ban(
    client: str = typer.Argument(..., help="IP address, or an IPv6 /64."),
    duration: str = typer.Option("1h", "--duration", help="How long the ban lasts, e.g. 30m, 1h, 7d."),
    reason: str = typer.Option("manual", "--reason", help="Reason stored with the ban."),
    state: str | None = _STATE,
    policy: Path | None = _POLICY,
) -> None:
    """Ban a client for a while."""
    from apiward.policy.types import parse_duration

    try:
        seconds = parse_duration(duration)
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None
    if seconds <= 0:
        raise typer.BadParameter("the duration must be positive")
    target = ban_target(client)
    ban = _run(_state_url(state, policy), lambda store: store.ban(target, seconds, reason))
    typer.echo(f"banned {ban.client} until {_time(ban.until)}")


@bans_app.command("remove")
def remove_ban(
    client: str = typer.Argument(..., help="IP address, or an IPv6 /64."),
    state: str | None = _STATE,
    policy: Path | None = _POLICY,
) -> None:
    """Lift the ban on a client."""
    target = ban_target(client)
    if _run(_state_url(state, policy), lambda store: store.unban(target)):
        typer.echo(f"removed the ban on {target}")
    else:
        typer.echo(f"error: {target} is not banned", err=True)
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add ``apiward bans`` to the ``apiward`` command."""
    app.add_typer(bans_app, name="bans")
