import os
import re
from ipaddress import ip_network

import pytest

from apiward.gateway.forwarding import Forwarding, forwarded_element, new_request_id, parse_ip
from apiward.gateway.pipeline import Headers

PROXIES = [ip_network("10.0.0.0/8"), ip_network("2001:db8:1::/48")]


def _forwarding() -> Forwarding:
    return Forwarding(PROXIES)


def _rewrite(forwarding: Forwarding, headers: Headers, peer: str, *, scheme: str = "https") -> Headers:
    client = forwarding.client_ip(peer, headers)
    request_id = forwarding.request_id(peer, headers)
    forwarding.rewrite(
        headers, peer_ip=peer, client_ip=client, scheme=scheme, host="api.test", request_id=request_id
    )
    return headers


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("203.0.113.7", "203.0.113.7"),
        (" 203.0.113.7 ", "203.0.113.7"),
        ("203.0.113.7:5555", "203.0.113.7"),
        ("2001:db8::7", "2001:db8::7"),
        ("[2001:db8::7]", "2001:db8::7"),
        ("[2001:db8::7]:443", "2001:db8::7"),
        ('"[2001:db8::7]"', "2001:db8::7"),
        ("::ffff:203.0.113.7", "203.0.113.7"),
        ("unknown", None),
        ("", None),
        ("203.0.113.300", None),
        ("_hidden", None),
    ],
)
def test_parse_ip(text: str, expected: str | None) -> None:
    parsed = parse_ip(text)
    assert (str(parsed) if parsed is not None else None) == expected


def test_untrusted_peer_is_client() -> None:
    headers = Headers([("x-forwarded-for", "198.51.100.1")])
    assert _forwarding().client_ip("203.0.113.9", headers) == "203.0.113.9"


def test_no_trusted_proxies_ignores_headers() -> None:
    headers = Headers([("x-forwarded-for", "198.51.100.1")])
    assert Forwarding([]).client_ip("10.0.0.1", headers) == "10.0.0.1"


def test_trusted_peer_takes_rightmost_untrusted() -> None:
    headers = Headers([("x-forwarded-for", "198.51.100.66, 203.0.113.9, 10.0.0.7")])
    assert _forwarding().client_ip("10.0.0.1", headers) == "203.0.113.9"


def test_trusted_peer_joins_repeated_fields() -> None:
    headers = Headers([("x-forwarded-for", "198.51.100.66"), ("x-forwarded-for", "203.0.113.9, 10.1.1.1")])
    assert _forwarding().client_ip("10.0.0.1", headers) == "203.0.113.9"


def test_trusted_peer_without_chain_is_client() -> None:
    assert _forwarding().client_ip("10.0.0.1", Headers()) == "10.0.0.1"


def test_all_trusted_chain_takes_leftmost() -> None:
    headers = Headers([("x-forwarded-for", "10.9.9.9, 10.0.0.7")])
    assert _forwarding().client_ip("10.0.0.1", headers) == "10.9.9.9"


def test_malformed_entry_stops_walk() -> None:
    headers = Headers([("x-forwarded-for", "203.0.113.9, garbage, 10.0.0.7")])
    assert _forwarding().client_ip("10.0.0.1", headers) == "10.0.0.7"


def test_empty_entries_are_skipped() -> None:
    headers = Headers([("x-forwarded-for", "203.0.113.9,, ,")])
    assert _forwarding().client_ip("10.0.0.1", headers) == "203.0.113.9"


def test_chain_ipv6_and_ports() -> None:
    headers = Headers([("x-forwarded-for", "[2001:db8:9::5]:1234, 2001:db8:1::3")])
    assert _forwarding().client_ip("10.0.0.1", headers) == "2001:db8:9::5"


def test_mapped_peer_is_trusted() -> None:
    headers = Headers([("x-forwarded-for", "203.0.113.9")])
    assert _forwarding().client_ip("::ffff:10.0.0.1", headers) == "203.0.113.9"


def test_request_id_from_trusted_peer() -> None:
    headers = Headers([("x-request-id", "abc-123_X.9")])
    assert _forwarding().request_id("10.0.0.1", headers) == "abc-123_X.9"


@pytest.mark.parametrize("given", ["", "a b", "x" * 129, "id;drop", "é", "a\r\nb"])
def test_request_id_unsafe_is_replaced(given: str) -> None:
    request_id = _forwarding().request_id("10.0.0.1", Headers([("x-request-id", given)]))
    assert re.fullmatch(r"[0-9a-f]{32}", request_id)


def test_request_id_from_untrusted_peer_is_replaced() -> None:
    request_id = _forwarding().request_id("203.0.113.9", Headers([("x-request-id", "mine")]))
    assert re.fullmatch(r"[0-9a-f]{32}", request_id)


def test_request_ids_are_unique() -> None:
    forwarding = _forwarding()
    assert len({forwarding.request_id("203.0.113.9", Headers()) for _ in range(1000)}) == 1000


def test_rewrite_untrusted_replaces_everything() -> None:
    headers = Headers(
        [
            ("host", "api.test"),
            ("x-forwarded-for", "1.1.1.1"),
            ("x-forwarded-for", "2.2.2.2"),
            ("x-forwarded-proto", "https"),
            ("x-forwarded-host", "evil.test"),
            ("forwarded", "for=1.1.1.1"),
            ("x-real-ip", "1.1.1.1"),
            ("true-client-ip", "1.1.1.1"),
            ("x-client-ip", "1.1.1.1"),
            ("x-request-id", "mine"),
            ("accept", "*/*"),
        ]
    )
    _rewrite(_forwarding(), headers, "203.0.113.9", scheme="http")
    assert headers.get_all("x-forwarded-for") == ["203.0.113.9"]
    assert headers.get_all("x-forwarded-proto") == ["http"]
    assert headers.get_all("x-forwarded-host") == ["api.test"]
    assert headers.get_all("forwarded") == ["for=203.0.113.9;host=api.test;proto=http"]
    assert headers.get_all("x-real-ip") == ["203.0.113.9"]
    assert "true-client-ip" not in headers
    assert "x-client-ip" not in headers
    assert headers.get("x-request-id") != "mine"
    assert headers.get("accept") == "*/*"
    assert headers.get("host") == "api.test"


def test_rewrite_trusted_appends_chain() -> None:
    headers = Headers(
        [
            ("x-forwarded-for", "203.0.113.9"),
            ("forwarded", "for=203.0.113.9;proto=https"),
            ("x-forwarded-proto", "https"),
            ("x-forwarded-host", "public.test"),
            ("x-request-id", "edge-1"),
        ]
    )
    _rewrite(_forwarding(), headers, "10.0.0.1", scheme="http")
    assert headers.get_all("x-forwarded-for") == ["203.0.113.9, 10.0.0.1"]
    assert headers.get_all("forwarded") == [
        "for=203.0.113.9;proto=https, for=10.0.0.1;host=api.test;proto=http"
    ]
    assert headers.get_all("x-forwarded-proto") == ["https"]
    assert headers.get_all("x-forwarded-host") == ["public.test"]
    assert headers.get_all("x-real-ip") == ["203.0.113.9"]
    assert headers.get_all("x-request-id") == ["edge-1"]


def test_rewrite_trusted_bad_proto_replaced() -> None:
    headers = Headers([("x-forwarded-proto", "gopher")])
    _rewrite(_forwarding(), headers, "10.0.0.1", scheme="https")
    assert headers.get_all("x-forwarded-proto") == ["https"]


def test_rewrite_trusted_without_headers() -> None:
    headers = _rewrite(_forwarding(), Headers(), "10.0.0.1", scheme="https")
    assert headers.get_all("x-forwarded-for") == ["10.0.0.1"]
    assert headers.get_all("forwarded") == ["for=10.0.0.1;host=api.test;proto=https"]
    assert headers.get_all("x-forwarded-host") == ["api.test"]


def test_forwarded_quotes_ipv6_and_host_port() -> None:
    element = forwarded_element("2001:db8::7", "https", "api.test:8443")
    assert element == 'for="[2001:db8::7]";host="api.test:8443";proto=https'


def test_forwarded_escapes_quotes() -> None:
    element = forwarded_element("203.0.113.9", "http", 'a"b\\c')
    assert element == 'for=203.0.113.9;host="a\\"b\\\\c";proto=http'


def test_trust_cache_is_bounded() -> None:
    forwarding = _forwarding()
    for index in range(5000):
        forwarding.is_trusted(f"203.0.{index // 256}.{index % 256}")
    assert len(forwarding._trusted_cache) <= 4096
    assert forwarding.is_trusted("10.1.2.3")
    assert not forwarding.is_trusted("203.0.113.1")


@pytest.mark.parametrize(
    ("forwarded", "expected"),
    [
        ("for=203.0.113.9", "203.0.113.9"),
        ('for=198.51.100.1, For="[2001:db8:9::5]:4711";proto=https', "2001:db8:9::5"),
        ("for=203.0.113.9;proto=https, for=10.0.0.7", "203.0.113.9"),
        ('for=203.0.113.9;host="x;for=198.51.100.66"', "203.0.113.9"),
        ('host="a\\"b;for=198.51.100.66";for=203.0.113.9', "203.0.113.9"),
        ("for=203.0.113.9;garbage, for=10.0.0.7", "10.0.0.1"),
        ("for=unknown", "10.0.0.1"),
        ("for=_hidden, for=10.0.0.7", "10.0.0.7"),
    ],
)
def test_trusted_peer_forwarded_header(forwarded: str, expected: str) -> None:
    headers = Headers([("forwarded", forwarded)])
    assert _forwarding().client_ip("10.0.0.1", headers) == expected


def test_forwarded_for_ignored_when_xff_present() -> None:
    headers = Headers([("forwarded", "for=198.51.100.66"), ("x-forwarded-for", "203.0.113.9")])
    assert _forwarding().client_ip("10.0.0.1", headers) == "203.0.113.9"


def test_forwarded_from_untrusted_peer_ignored() -> None:
    headers = Headers([("forwarded", "for=198.51.100.66")])
    assert _forwarding().client_ip("203.0.113.9", headers) == "203.0.113.9"


def test_new_request_ids_unique_hex() -> None:
    ids = [new_request_id() for _ in range(1000)]
    assert len(set(ids)) == 1000
    assert all(re.fullmatch(r"[0-9a-f]{32}", request_id) for request_id in ids)


def test_forked_child_gets_other_prefix() -> None:
    reader, writer = os.pipe()
    parent_id = new_request_id()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        os.write(writer, new_request_id().encode())
        os._exit(0)
    os.close(writer)
    child_id = os.read(reader, 64).decode()
    os.close(reader)
    os.waitpid(pid, 0)
    assert re.fullmatch(r"[0-9a-f]{32}", child_id)
    assert child_id[:16] != parent_id[:16]
