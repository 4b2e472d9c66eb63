"""One hyperscan pass over a whole JSON body, to skip splitting clean bodies into fields.

Splitting a JSON body into located fields costs more in Python than scanning it. For most API
bodies nothing matches, so the engine first scans the body text as it is, with the signatures
that can apply to JSON keys or string values plus a few gate patterns. Only when something hits
is the body walked into fields and inspected one field at a time, which finds the same matches
the walk would have found from the start.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

import hyperscan

from apiward.waf.database import load_database
from apiward.waf.decode import base64_text, maybe_base64
from apiward.waf.signatures import Signature

_NEEDS_WALK = 1
_BASE64_LINE = 2
_GATES = (
    Signature(
        id=_NEEDS_WALK,
        attack_class="gate",
        category="",
        paranoia=1,
        score=0,
        description="text that decoding, libinjection or the key checks act on",
        pattern=r"[\\%&\x00'^`$;#(<]|--|/\*|IFS|__proto__|constructor|prototype",
        case_sensitive=True,
    ),
    Signature(
        id=_BASE64_LINE,
        attack_class="gate",
        category="",
        paranoia=1,
        score=0,
        description="a whole string in the base64 alphabet",
        pattern=r"^[A-Za-z0-9+/_-]{16,}={0,2}$",
        case_sensitive=True,
    ),
)
"""Patterns whose hit sends a body to the field walk although no signature matched.

The first finds what makes the walk do more than a signature scan: escapes, decodable
characters, the characters that make libinjection run, and key names of query operators or
prototypes. The second finds strings that could decode from base64 to text.
"""


def applies_to_json(signature: Signature) -> bool:
    """Say whether ``signature`` can match a JSON body's string values or keys."""
    if signature.keys or not signature.scope:
        return True
    return any(prefix.startswith("body.") or "body.$.".startswith(prefix) for prefix in signature.scope)


class JsonPrescan:
    """A database of the JSON-applicable signatures and the gate patterns, scanned once per body."""

    def __init__(self, signatures: Sequence[Signature]) -> None:
        applicable = [signature for signature in signatures if applies_to_json(signature)]
        self.database = load_database([*applicable, *_GATES])
        self.database.scratch = hyperscan.Scratch(self.database)

    def needs_walk(self, text: str) -> bool:
        """Say whether the JSON ``text`` must be walked into fields, stopping at the first reason.

        Quotes become line breaks, so each string is one line as in the engine's joined field
        buffer, and anchored signatures match the same. Keys and punctuation only add lines, so
        they can cause extra walks but never hide a match.
        """
        data = text.replace('"', "\n").encode("utf-8", "replace")
        found = False

        def on_match(ident: int, _start: int, end: int, _flags: int, _context: object) -> bool:
            nonlocal found
            if ident == _BASE64_LINE:
                line = data[data.rfind(b"\n", 0, end) + 1 : end].decode("utf-8", "replace")
                found = maybe_base64(line) and base64_text(line) is not None
            else:
                found = True
            return found

        # on_match stops the scan at the first reason to walk, which hyperscan reports as an error.
        with contextlib.suppress(hyperscan.ScanTerminated):
            self.database.scan(data, match_event_handler=on_match)
        return found
