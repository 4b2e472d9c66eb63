"""Protocol checks on the request head: Host, Content-Type and query shape."""

from __future__ import annotations

import pytest

from apiward.waf.fields import Extraction, Limits
from apiward.waf.protocol import MAX_PARAMETER_NAME, MAX_QUERY_PARAMETERS, check_form_session, check_head
from apiward.waf.request import HttpRequest


def _codes(request: HttpRequest) -> list[str]:
    extraction = Extraction(Limits())
    check_head(request, extraction)
    return [anomaly.code for anomaly in extraction.anomalies]


def test_empty_host_reported() -> None:
    assert _codes(HttpRequest("GET", "/", "", [("host", " ")])) == ["empty_host"]


def test_repeated_charset_reported() -> None:
    content_type = "application/x-www-form-urlencoded; charset=utf-8; CHARSET=utf-7"
    headers = [("host", "a.test"), ("content-type", content_type)]
    assert "repeated_charset" in _codes(HttpRequest("POST", "/", "", headers))


def test_parameter_flood_reported() -> None:
    query = "&".join(f"p{index}=1" for index in range(MAX_QUERY_PARAMETERS + 1))
    assert _codes(HttpRequest("GET", "/", query, [("host", "a.test")])) == ["too_many_parameters"]
    query = "&".join(f"p{index}=1" for index in range(MAX_QUERY_PARAMETERS))
    assert _codes(HttpRequest("GET", "/", query, [("host", "a.test")])) == []


def test_long_parameter_name_reported() -> None:
    long_name = "n" * (MAX_PARAMETER_NAME + 1)
    headers = [("host", "a.test")]
    assert _codes(HttpRequest("GET", "/", f"{long_name}=1", headers)) == ["long_parameter_name"]
    assert _codes(HttpRequest("GET", "/", f"{long_name[1:]}=1", headers)) == []


@pytest.mark.parametrize("name", ["user-agent", "accept"])
def test_empty_client_header_reported(name: str) -> None:
    assert _codes(HttpRequest("GET", "/", "", [("host", "a.test"), (name, "")])) == ["empty_header"]


def test_session_id_from_other_site_reported() -> None:
    headers = [("host", "shop.example"), ("referer", "https://attacker.example/page")]
    assert _codes(HttpRequest("GET", "/login", "sessionid=abc123", headers)) == ["session_id_from_other_site"]


def test_session_id_from_same_site_passes() -> None:
    headers = [("host", "shop.example:8443"), ("referer", "https://shop.example/cart")]
    assert _codes(HttpRequest("GET", "/login", "session-id=abc123", headers)) == []
    assert _codes(HttpRequest("GET", "/login", "session-id=abc123", [("host", "shop.example")])) == []


def test_session_id_from_sibling_subdomain_passes() -> None:
    headers = [("host", "api.shop.example"), ("referer", "https://app.shop.example/")]
    assert _codes(HttpRequest("GET", "/login", "sessionid=abc123", headers)) == []


def _form_codes(request: HttpRequest, form: str) -> list[str]:
    extraction = Extraction(Limits())
    check_form_session(request, form, extraction)
    return [anomaly.code for anomaly in extraction.anomalies]


def test_form_session_id_from_other_site_reported() -> None:
    headers = [("host", "shop.example"), ("referer", "https://attacker.example/")]
    request = HttpRequest("POST", "/login", "", headers)
    assert _form_codes(request, "user=a&sessionid=abc123") == ["session_id_from_other_site"]


def test_form_session_id_from_same_site_passes() -> None:
    headers = [("host", "shop.example"), ("referer", "https://shop.example/login")]
    request = HttpRequest("POST", "/login", "", headers)
    assert _form_codes(request, "sessionid=abc123&user=a") == []
    assert _form_codes(HttpRequest("POST", "/login", "", [("host", "shop.example")]), "sessionid=1") == []


def test_form_without_session_id_passes() -> None:
    headers = [("host", "shop.example"), ("referer", "https://attacker.example/")]
    assert _form_codes(HttpRequest("POST", "/login", "", headers), "user=a&password=b") == []


def test_legacy_cookie_attributes_reported() -> None:
    headers = [("host", "a.test"), ("cookie", '$Version=1; session="abc; admin=1"')]
    assert _codes(HttpRequest("GET", "/", "", headers)) == ["legacy_cookie"]
    assert _codes(HttpRequest("GET", "/", "", [("host", "a.test"), ("cookie", "price=$5")])) == []


def test_odd_accept_encoding_reported() -> None:
    odd = [("host", "a.test"), ("accept-encoding", "AAAA,AAAA&AA&**AAAA**A, *, ,")]
    assert _codes(HttpRequest("GET", "/", "", odd)) == ["invalid_accept_encoding"]
    usual = [("host", "a.test"), ("accept-encoding", "gzip, deflate, br;q=0.9, *;q=0.1")]
    assert _codes(HttpRequest("GET", "/", "", usual)) == []
