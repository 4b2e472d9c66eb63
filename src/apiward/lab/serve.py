"""Serving the lab API with uvicorn on a checked address and port."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Collection

import uvicorn

from apiward.lab.app import create_app


class ServeError(Exception):
    """The lab cannot be served with these options; the message names what to change."""


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_port_free(host: str, port: int) -> None:
    """Raise ServeError when ``host:port`` cannot be bound, so the user sees why before start-up."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            raise ServeError(f"cannot listen on {host}:{port}: {error.strerror}") from error


def serve_lab(host: str, port: int, fixed: bool | Collection[str], log_level: str = "info") -> None:
    """Run the lab API in the foreground until SIGINT or SIGTERM."""
    check_port_free(host, port)
    app = create_app(fixed)
    config = uvicorn.Config(app, host=host, port=port, log_level=log_level, server_header=False)
    uvicorn.Server(config).run()
