"""Decoding of field values before signatures run."""

from __future__ import annotations

from apiward.waf.decode import base64_text, decode_fully, decoded_variants


def test_double_url_encoding_decoded() -> None:
    text, chain = decode_fully("%253Cscript%253E")
    assert text == "<script>"
    assert chain == ("url", "url")


def test_html_and_unicode_escapes_decoded() -> None:
    assert decode_fully("&lt;svg onload=x&gt;")[0] == "<svg onload=x>"
    assert decode_fully("\\u003cscript\\u003e")[0] == "<script>"
    assert decode_fully("%u003cimg%u003e")[0] == "<img>"


def test_plain_value_has_one_variant() -> None:
    assert decoded_variants("hello world") == [("hello world", ())]


def test_sql_comments_removed() -> None:
    texts = [text for text, _ in decoded_variants("UN/**/ION/**/SELECT")]
    assert "UNION SELECT" not in texts[0]
    assert "UN ION SELECT" in texts
    assert "UNIONSELECT" in texts


def test_shell_quotes_removed() -> None:
    variants = dict(decoded_variants("c'a't${IFS}/e\"t\"c/pa\\sswd"))
    assert "cat /etc/passwd" in variants
    assert variants["cat /etc/passwd"] == ("shell-quote-removal",)


def test_base64_text_decoded() -> None:
    assert base64_text("PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==") == "<script>alert(1)</script>"
    assert base64_text("iVBORw0KGgoAAAANSUhEUgAAAAEAAAAB") is None
    assert base64_text("short") is None


def test_decoding_passes_bounded() -> None:
    nested = "<"
    for _ in range(8):
        nested = nested.replace("%", "%25") if "%" in nested else "%3C"
    text, chain = decode_fully(nested)
    assert len(chain) == 4
    assert text != "<"
