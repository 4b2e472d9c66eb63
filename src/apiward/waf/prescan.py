"""One hyperscan pass over a JSON body's strings, to skip splitting clean bodies into fields.

Splitting a JSON body into located fields costs more than scanning its strings, and for most
API bodies nothing matches. So the engine first scans the strings that the field walk would
inspect (string values and keys that are not plain identifiers), joined by line breaks. It
uses the signatures that can apply to JSON keys or string values, plus a few gate patterns. Only when
something hits is the body walked into fields and inspected one field at a time, which finds the
same matches the walk would have found from the start.
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
        pattern=r"[\\%&\x00'\"^`$;#(<]|--|/\*|IFS|__proto__|constructor|prototype",
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

The first finds what makes the walk do more than a signature scan: decodable characters, the
characters that make libinjection run (the double quote among them, which the scanned strings
contain unescaped), and key names of query operators or prototypes. The second finds strings
that could decode from base64 to text.
"""


def applies_to_json(signature: Signature) -> bool:
    """Say whether ``signature`` can match a JSON body's string values or keys."""
    if signature.keys or not signature.scope:
        return True
    return any(prefix.startswith("body.") or "body.$.".startswith(prefix) for prefix in signature.scope)


CLEAN_STRINGS_MAX = 4096
"""Strings remembered as clean per prescan; the memo is emptied when full."""
CLEAN_STRING_LENGTH_MAX = 256
"""Longer strings are not remembered, which bounds the memo to about 1 MB."""


class JsonPrescan:
    """A database of the JSON-applicable signatures and the gate patterns, scanned once per body."""

    def __init__(self, signatures: Sequence[Signature]) -> None:
        applicable = [signature for signature in signatures if applies_to_json(signature)]
        self.database = load_database([*applicable, *_GATES])
        self.database.scratch = hyperscan.Scratch(self.database)
        self._clean: set[str] = set()
        """Strings whose scan found no reason to walk. A string's hits do not depend on its
        neighbours, because each string is a line of its own and the walk drops matches that span
        two fields, so a clean string can be left out of later scans."""

    def needs_walk(self, strings: list[str]) -> bool:
        """Say whether a JSON body with these ``strings`` must be walked into fields.

        Each string is one line ended by a line break, as in the engine's joined field buffer, so
        anchored signatures match the same. The scan stops at the first reason to walk.
        """
        clean = self._clean
        fresh = [text for text in strings if text not in clean]
        if not fresh:
            return False
        # Every string ends with a line break, as each field does in the engine's buffer: some
        # signatures need a character after the value (``http://127.1`` then a line break).
        data = ("\n".join(fresh) + "\n").encode("utf-8", "replace")
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
        if not found:
            self._remember(fresh)
        return found

    def _remember(self, strings: list[str]) -> None:
        clean = self._clean
        for text in strings:
            if len(text) > CLEAN_STRING_LENGTH_MAX:
                continue
            if len(clean) >= CLEAN_STRINGS_MAX:
                clean.clear()
            clean.add(text)
