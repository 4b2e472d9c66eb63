"""Field extraction from the request line, headers and each body shape."""

from __future__ import annotations

import gzip
import zlib

import orjson

from apiward.waf.bodies import extract_body
from apiward.waf.fields import Extraction, Limits, extract_head
from apiward.waf.request import HttpRequest, parse_raw_request


def _extract(request: HttpRequest, limits: Limits | None = None) -> Extraction:
    extraction = Extraction(limits or Limits())
    extract_head(request, extraction)
    extract_body(request, request.body, extraction)
    return extraction


def _fields(extraction: Extraction) -> dict[str, str]:
    return {item.location: item.value for item in extraction.fields}


def _json_request(body: bytes, content_type: str = "application/json") -> HttpRequest:
    return HttpRequest.from_target("POST", "/api/v1/items", [("Content-Type", content_type)], body)


def test_query_names_values_and_cookies() -> None:
    request = HttpRequest.from_target(
        "GET", "/a/b?x=1&na%20me=v+w", [("Cookie", "sid=abc; theme=dark"), ("User-Agent", "ua")]
    )
    fields = _fields(_extract(request))
    assert fields["path"] == "/a/b"
    assert fields["query.x"] == "1"
    assert fields["query.na me"] == "v w"
    assert fields["cookie.sid"] == "abc"
    assert fields["header.user-agent"] == "ua"
    assert "header.cookie" not in fields


def test_encoded_equals_in_name_split() -> None:
    request = HttpRequest.from_target("GET", "/a?pay%3D%27+or+1%3D1&x=1", [])
    extraction = _extract(request)
    names = [item.value for item in extraction.fields if item.location == "query-name"]
    fields = _fields(extraction)
    assert names == ["pay=' or 1=1", "x"]
    assert fields["query.pay"] == "' or 1=1"
    assert fields["query.x"] == "1"


def test_plain_name_not_split() -> None:
    request = HttpRequest.from_target("GET", "/a?na%20me&flag", [])
    fields = _fields(_extract(request))
    assert not any(location.startswith("query.") for location in fields)


def test_json_leaves_with_paths_and_keys_skipped() -> None:
    body = orjson.dumps({"user": {"name": "Ann", "tags": ["a", "b"], "age": 5}, "select": "x", "a.b c": "y"})
    fields = _fields(_extract(_json_request(body)))
    assert fields["body.$.user.name"] == "Ann"
    assert fields["body.$.user.tags[1]"] == "b"
    assert fields["body.$.select"] == "x"
    assert "select" not in fields.values()
    assert fields["body-key.$.a.b c"] == "a.b c"


def test_prototype_pollution_key_reported() -> None:
    extraction = _extract(_json_request(b'{"a": {"__proto__": {"admin": true}}}'))
    assert [anomaly.code for anomaly in extraction.anomalies] == ["prototype_pollution_key"]


def test_constructor_prototype_keys_reported() -> None:
    extraction = _extract(_json_request(b'{"constructor": {"prototype": {"isAdmin": true}}}'))
    assert [anomaly.code for anomaly in extraction.anomalies] == ["prototype_pollution_key"] * 2


def test_mongo_operator_key_reported() -> None:
    extraction = _extract(_json_request(b'{"password": {"$ne": null}}'))
    assert [anomaly.attack_class for anomaly in extraction.anomalies] == ["nosqli"]


def test_json_as_text_plain_parsed() -> None:
    fields = _fields(_extract(_json_request(b'{"q": "x"}', "text/plain")))
    assert fields["body.$.q"] == "x"


def test_utf16_json_decoded() -> None:
    body = '{"q": "<script>"}'.encode("utf-16")
    fields = _fields(_extract(_json_request(body, "application/json; charset=utf-16")))
    assert fields["body.$.q"] == "<script>"


def test_gzip_and_deflate_bodies_decoded() -> None:
    for encoded, encoding in ((gzip.compress(b"a=1"), "gzip"), (zlib.compress(b"a=1"), "deflate")):
        request = HttpRequest.from_target(
            "POST",
            "/",
            [("Content-Type", "application/x-www-form-urlencoded"), ("Content-Encoding", encoding)],
            encoded,
        )
        assert _fields(_extract(request))["body.a"] == "1"


def test_gzip_bomb_hits_limit() -> None:
    request = HttpRequest.from_target(
        "POST",
        "/",
        [("Content-Type", "text/plain"), ("Content-Encoding", "gzip")],
        gzip.compress(b"a" * 100_000),
    )
    extraction = _extract(request, Limits(max_body_bytes=1000))
    assert [anomaly.code for anomaly in extraction.anomalies] == ["body_too_large"]
    assert extraction.anomalies[0].limit


def test_field_limit_recorded_once() -> None:
    request = HttpRequest.from_target("GET", "/?" + "&".join(f"k{i}=v" for i in range(50)), [])
    extraction = _extract(request, Limits(max_fields=10))
    assert len(extraction.fields) == 10
    assert [anomaly.code for anomaly in extraction.anomalies] == ["too_many_fields"]


def test_json_depth_limit() -> None:
    body = b'{"a":' * 20 + b'"x"' + b"}" * 20
    extraction = _extract(_json_request(body), Limits(max_depth=5))
    assert [anomaly.code for anomaly in extraction.anomalies] == ["json_too_deep"]


def test_xml_text_and_attributes() -> None:
    body = b'<?xml version="1.0"?><order id="7"><note>hello</note></order>'
    fields = _fields(_extract(_json_request(body, "application/xml")))
    assert fields["xml./order@id"] == "7"
    assert fields["xml./order/note"] == "hello"


def test_xml_dtd_refused() -> None:
    body = b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]><a>&x;</a>'
    extraction = _extract(_json_request(body, "application/xml"))
    assert [anomaly.code for anomaly in extraction.anomalies] == ["xml_dtd"]


def test_multipart_names_filenames_values() -> None:
    body = (
        b'--XyZ\r\nContent-Disposition: form-data; name="title"\r\n\r\nhello\r\n'
        b'--XyZ\r\nContent-Disposition: form-data; name="file"; filename="a.php"\r\n'
        b"Content-Type: text/plain\r\n\r\n<?php ?>\r\n--XyZ--\r\n"
    )
    extraction = _extract(_json_request(body, "multipart/form-data; boundary=XyZ"))
    fields = _fields(extraction)
    assert fields["multipart.title"] == "hello"
    assert fields["multipart.file.filename"] == "a.php"
    assert fields["multipart.file"] == "<?php ?>"
    assert extraction.anomalies == []


def test_multipart_without_closing_boundary() -> None:
    body = b'--XyZ\r\nContent-Disposition: form-data; name="a"\r\n\r\nx\r\n'
    extraction = _extract(_json_request(body, "multipart/form-data; boundary=XyZ"))
    assert "multipart_invalid" in [anomaly.code for anomaly in extraction.anomalies]


def test_graphql_depth_aliases_batch() -> None:
    deep = "query { " + "a { " * 20 + "b" + " }" * 20 + " }"
    aliases = "query { " + " ".join(f"x{i}: login(u: 1)" for i in range(40)) + " }"
    batch = orjson.dumps([{"query": "{ a }"}] * 12)
    cases = [
        (orjson.dumps({"query": deep}), "graphql_depth"),
        (orjson.dumps({"query": aliases}), "graphql_aliases"),
        (batch, "graphql_batch"),
    ]
    for body, code in cases:
        request = HttpRequest.from_target("POST", "/graphql", [("Content-Type", "application/json")], body)
        assert code in [anomaly.code for anomaly in _extract(request).anomalies]


def test_raw_request_chunked() -> None:
    raw = (
        b"POST /x?a=1 HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
    )
    request = parse_raw_request(raw)
    assert request.path == "/x"
    assert request.query == "a=1"
    assert request.body == b"abcde"


def test_body_without_content_type_reported() -> None:
    request = HttpRequest("POST", "/items", "", [("host", "a.test")], b"test")
    assert "missing_content_type" in [anomaly.code for anomaly in _extract(request).anomalies]
    headers = [("host", "a.test"), ("content-type", "text/plain")]
    labelled = HttpRequest("POST", "/items", "", headers, b"test")
    assert "missing_content_type" not in [anomaly.code for anomaly in _extract(labelled).anomalies]


def _multipart(part_head: bytes, content: bytes) -> HttpRequest:
    body = b"--b\r\n" + part_head + b"\r\n\r\n" + content + b"\r\n--b--\r\n"
    headers = [("Content-Type", "multipart/form-data; boundary=b")]
    return HttpRequest.from_target("POST", "/upload", headers, body)


def test_multipart_charset_field_checked() -> None:
    head = b'Content-Disposition: form-data; name="_charset_"'
    codes = [anomaly.code for anomaly in _extract(_multipart(head, b"utf-7")).anomalies]
    assert codes == ["charset_not_allowed"]
    assert _extract(_multipart(head, b"UTF-8")).anomalies == []


def test_multipart_utf16_part_reported() -> None:
    head = b'Content-Disposition: form-data; name="note"\r\nContent-Type: text/plain; charset=utf-16'
    codes = [anomaly.code for anomaly in _extract(_multipart(head, b"text")).anomalies]
    assert codes == ["charset_not_allowed"]
