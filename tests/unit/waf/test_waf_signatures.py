"""Every signature's own must-match and must-not-match strings, and the file format checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from apiward.waf.engine import Engine
from apiward.waf.signatures import Signature, SignatureError, builtin_signatures, load_file, load_signatures

SIGNATURES = builtin_signatures()


def _hits(engine: Engine, text: str) -> set[int]:
    found: set[int] = set()

    def on_match(ident: int, _start: int, _end: int, _flags: int, _context: object) -> None:
        found.add(ident)

    engine.database.scan((text + "\n").encode("utf-8"), match_event_handler=on_match)
    return found


def test_signature_files_load() -> None:
    classes = {signature.attack_class for signature in SIGNATURES}
    assert len(SIGNATURES) >= 100
    assert {"sqli", "xss", "cmdi", "lfi", "rfi", "ssrf", "ssti", "xxe", "jndi", "ldapi", "crlf"} <= classes
    assert {"nosqli", "prototype-pollution", "scanner", "java", "php"} <= classes


def test_every_signature_has_examples() -> None:
    for signature in SIGNATURES:
        assert signature.match, f"signature {signature.id} has no match examples"
        assert signature.no_match, f"signature {signature.id} has no no_match examples"
        assert signature.description, f"signature {signature.id} has no description"


@pytest.mark.parametrize("signature", SIGNATURES, ids=lambda signature: str(signature.id))
def test_signature_examples(signature: Signature, engine_pl4: Engine) -> None:
    for text in signature.match:
        assert signature.id in _hits(engine_pl4, text), f"{signature.id} must match {text!r}"
    for text in signature.no_match:
        assert signature.id not in _hits(engine_pl4, text), f"{signature.id} must not match {text!r}"


def test_duplicate_id_rejected(tmp_path: Path) -> None:
    entry = "class: x\ncategory: API8:2023\nsignatures:\n  - {id: 5, pattern: a, match: [a], no_match: [b]}\n"
    (tmp_path / "a.yaml").write_text(entry)
    (tmp_path / "b.yaml").write_text(entry)
    with pytest.raises(SignatureError, match=r"id 5 is also used in a\.yaml"):
        load_signatures(tmp_path)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("class: x\ncategory: API99\nsignatures: []\n", "not an OWASP API id"),
        (
            "class: x\ncategory: API8:2023\nsignatures:\n  - {id: 1, paranoia: 7, pattern: a}\n",
            "'paranoia' must be",
        ),
        ("class: x\ncategory: API8:2023\nsignatures:\n  - {id: -1, pattern: a}\n", "'id' must be a positive"),
        ("class: x\ncategory: API8:2023\nsignatures:\n  - {id: 1}\n", "'pattern' must be"),
        ("signatures: 3\n", "expected a mapping"),
    ],
)
def test_invalid_file_rejected(tmp_path: Path, body: str, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(body)
    with pytest.raises(SignatureError, match=message):
        load_file(path)
