"""Signature data files: one YAML file per attack class under ``apiward/waf/signatures/``.

A file looks like::

    class: sqli
    category: API8:2023
    signatures:
      - id: 100100
        paranoia: 1
        score: 5
        description: UNION query that appends a SELECT
        pattern: '\\bunion\\b.{0,40}?\\bselect\\b'
        match: ["1 union all select 1,2"]
        no_match: ["the union selected a leader"]

A signature may give ``base64_words`` instead of ``pattern``: the words are then matched inside
base64 text at every byte alignment. Optional keys: ``scope`` (field location prefixes the
signature is limited to, such as ``[path]`` or ``[header.x-filename, multipart.]``),
``keys: true`` (also match JSON object keys), ``case_sensitive: true``.

Patterns use the hyperscan dialect (a PCRE subset), matched case-insensitively over decoded
field values; ``match`` and ``no_match`` are the strings each signature's tests check.

Every value is scanned with a line break after it, and ``^`` and ``$`` match at line breaks. A
pattern that must cover a whole value should start with ``^[ \\t]*`` rather than ``^\\s*``,
because ``\\s`` also matches the line break and keeps a partial match alive across lines. It may
end with ``[ \\t]*\\n`` in place of ``$``: with several more ``$`` patterns in the set, hyperscan
scanned a whole request measurably slower (``bench/waf_cost.py``).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

SIGNATURE_DIR = Path(__file__).parent / "signatures"
OWASP_CATEGORIES = {
    "API1:2023",
    "API2:2023",
    "API3:2023",
    "API4:2023",
    "API5:2023",
    "API6:2023",
    "API7:2023",
    "API8:2023",
    "API9:2023",
    "API10:2023",
}


class SignatureError(ValueError):
    """A signature file or a custom rule is invalid; the message names the file and the id."""


@dataclass(frozen=True, slots=True)
class Signature:
    """One detection pattern and what a match means."""

    id: int
    attack_class: str
    category: str
    paranoia: int
    score: int
    description: str
    pattern: str
    match: tuple[str, ...] = ()
    no_match: tuple[str, ...] = ()
    case_sensitive: bool = False
    scope: tuple[str, ...] = ()
    """Field location prefixes this signature applies to, such as ``path`` or ``header.``; empty means all."""
    keys: bool = False
    """Also match JSON object keys, which are otherwise not treated as payload."""


def load_signatures(directory: Path = SIGNATURE_DIR) -> list[Signature]:
    """Load every ``*.yaml`` signature file in ``directory``, checking ids are unique."""
    signatures: list[Signature] = []
    seen: dict[int, str] = {}
    for path in sorted(directory.glob("*.yaml")):
        for signature in load_file(path):
            if signature.id in seen:
                raise SignatureError(
                    f"{path.name}: signature id {signature.id} is also used in {seen[signature.id]}"
                )
            seen[signature.id] = path.name
            signatures.append(signature)
    if not signatures:
        raise SignatureError(f"no signature files found in {directory}")
    return signatures


@functools.cache
def builtin_signatures() -> tuple[Signature, ...]:
    """Return the signatures shipped with apiward, loaded once per process."""
    return tuple(load_signatures())


def load_file(path: Path) -> list[Signature]:
    """Load one signature file."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not isinstance(data.get("signatures"), list):
        raise SignatureError(f"{path.name}: expected a mapping with 'class', 'category' and 'signatures'")
    attack_class = str(data.get("class", ""))
    category = str(data.get("category", ""))
    if not attack_class or category not in OWASP_CATEGORIES:
        raise SignatureError(
            f"{path.name}: 'class' is missing or 'category' {category!r} is not an OWASP API id"
        )
    return [parse_signature(entry, attack_class, category, path.name) for entry in data["signatures"]]


def parse_signature(entry: Any, attack_class: str, category: str, source: str) -> Signature:
    """Build a :class:`Signature` from one mapping, with errors naming ``source`` and the id."""
    if not isinstance(entry, dict):
        raise SignatureError(f"{source}: each signature must be a mapping, got {entry!r}")
    ident = entry.get("id")
    where = f"{source}: signature {ident!r}"

    if not isinstance(ident, int) or ident <= 0:
        raise SignatureError(f"{where}: 'id' must be a positive integer")
    paranoia = entry.get("paranoia", 1)
    score = entry.get("score", 5)
    pattern = entry.get("pattern")
    if pattern is None and isinstance(entry.get("base64_words"), list):
        pattern = base64_words_pattern([str(word) for word in entry["base64_words"]])

    if paranoia not in (1, 2, 3, 4):
        raise SignatureError(f"{where}: 'paranoia' must be 1, 2, 3 or 4, got {paranoia!r}")
    if not isinstance(score, int) or not 0 < score <= 100:
        raise SignatureError(f"{where}: 'score' must be an integer from 1 to 100, got {score!r}")
    if not isinstance(pattern, str) or not pattern:
        raise SignatureError(f"{where}: 'pattern' must be a non-empty string")

    return Signature(
        id=ident,
        attack_class=str(entry.get("class", attack_class)),
        category=str(entry.get("category", category)),
        paranoia=paranoia,
        score=score,
        description=str(entry.get("description", "")),
        pattern=pattern,
        match=tuple(str(item) for item in entry.get("match", ())),
        no_match=tuple(str(item) for item in entry.get("no_match", ())),
        case_sensitive=bool(entry.get("case_sensitive", False)),
        scope=tuple(str(item) for item in entry.get("scope", ())),
        keys=bool(entry.get("keys", False)),
    )


def base64_fragments(word: str) -> list[str]:
    """Return the base64 characters that encode ``word`` at each of the three byte alignments.

    Only characters whose six bits all come from ``word`` are kept, so the fragments match
    wherever the word sits inside a longer base64 text.
    """
    data = word.encode()
    fragments = []
    for shift in range(3):
        encoded = base64.b64encode(b"\0" * shift + data + b"\0\0").decode()
        first = -(-8 * shift // 6)
        last = 8 * (shift + len(data)) // 6
        fragments.append(encoded[first:last])
    return fragments


def base64_words_pattern(words: list[str]) -> str:
    """Build a pattern matching any of ``words`` inside base64 text, at any alignment."""
    fragments = sorted({fragment for word in words for fragment in base64_fragments(word)})
    return "(?:" + "|".join(re.escape(fragment) for fragment in fragments) + ")"


def fingerprint(signatures: list[Signature]) -> str:
    """Hash of every pattern and flag, used as the key of the compiled-database cache."""
    digest = hashlib.sha256()
    for signature in signatures:
        digest.update(f"{signature.id}\0{signature.case_sensitive}\0{signature.pattern}\n".encode())
    return digest.hexdigest()[:32]
