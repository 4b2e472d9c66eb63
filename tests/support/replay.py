"""The command line of the shared WAF replay tool, aimed at a gateway in front of EchoUpstream."""

from __future__ import annotations

import sys
from pathlib import Path

REACHED_MARKER = '"body_len"'
"""A string every EchoUpstream response contains, so a response without it came from the gateway."""


def replay_command(shared: Path, url: str, corpus: str, summary: Path, *extra: str) -> list[str]:
    """Build the waf_replay.py command that replays ``corpus`` (relative to corpora/) at ``url``."""
    return [
        sys.executable,
        str(shared / "tools" / "waf_replay.py"),
        "--target",
        url,
        "--corpus",
        str(shared / "corpora" / corpus),
        "--reached-marker",
        REACHED_MARKER,
        "--json",
        str(summary),
        "--quiet",
        *extra,
    ]
