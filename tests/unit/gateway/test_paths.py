import re
from urllib.parse import unquote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apiward.gateway.paths import PathError, RouteTable, normalize_path, route_key
from apiward.policy.model import Match

# (raw path, normalised path, contains an encoded slash)
ACCEPTED = [
    ("/", "/", False),
    ("/api/users", "/api/users", False),
    ("/api/users/", "/api/users/", False),
    ("//admin", "/admin", False),
    ("///admin//users///", "/admin/users/", False),
    ("/a/./b", "/a/b", False),
    ("/a/b/./", "/a/b/", False),
    ("/a/b/.", "/a/b/", False),
    ("/a/b/../c", "/a/c", False),
    ("/a/b/..", "/a/", False),
    ("/a/..", "/", False),
    ("/a/%2e%2e/admin", "/admin", False),
    ("/a/%2E%2E/admin", "/admin", False),
    ("/a/.%2e/admin", "/admin", False),
    ("/a/%2e./admin", "/admin", False),
    ("/a/%2e/b", "/a/b", False),
    ("/api/..;/admin", "/admin", False),
    ("/api/..;jsessionid=x/admin", "/admin", False),
    ("/api/.;x/admin", "/api/admin", False),
    ("/api/%2e%2e;/admin", "/admin", False),
    ("/admin;jsessionid=1", "/admin;jsessionid=1", False),
    ("/a;x/..", "/", False),
    ("/;x/admin", "/;x/admin", False),
    ("/%41%62%63", "/Abc", False),
    ("/%7e%2D%5f%2E", "/~-_.", False),
    ("/a%2fb", "/a%2Fb", True),
    ("/a%2Fb", "/a%2Fb", True),
    ("/a%3fb", "/a%3Fb", False),
    ("/a%23b", "/a%23b", False),
    ("/a%20b", "/a%20b", False),
    ("/a b", "/a%20b", False),
    ('/a"b', "/a%22b", False),
    ("/a<b>", "/a%3Cb%3E", False),
    ("/a{b}", "/a%7Bb%7D", False),
    ("/a|b^c`", "/a%7Cb%5Ec%60", False),
    ("/100%25", "/100%25", False),
    ("/100%25off", "/100%25off", False),
    ("/caf%c3%a9", "/caf%C3%A9", False),
    ("/caf\u00c3\u00a9", "/caf%C3%A9", False),
    ("/%F0%9F%98%80", "/%F0%9F%98%80", False),
    ("/.well-known/jwks.json", "/.well-known/jwks.json", False),
    ("/a/...", "/a/...", False),
    ("/a/..b", "/a/..b", False),
    ("/a/b..", "/a/b..", False),
    ("/users/7/orders?", "/users/7/orders%3F", False),
    ("/a:b@c!$&'()*+,=", "/a:b@c!$&'()*+,=", False),
    ("/files/a%2Fb%2Fc.txt", "/files/a%2Fb%2Fc.txt", True),
    ("/ADMIN", "/ADMIN", False),
]

# (raw path, error code)
REJECTED = [
    ("", "invalid_path"),
    ("admin", "invalid_path"),
    ("*", "invalid_path"),
    ("http://example.test/", "invalid_path"),
    ("/..", "path_above_root"),
    ("/../admin", "path_above_root"),
    ("/..;/admin", "path_above_root"),
    ("/%2e%2e/admin", "path_above_root"),
    ("/a/../../admin", "path_above_root"),
    ("/.%2e/admin", "path_above_root"),
    ("/%252e%252e/admin", "double_encoding"),
    ("/a/%252e%252e%252fadmin", "double_encoding"),
    ("/%2525", "double_encoding"),
    ("/%25%32%65", "double_encoding"),
    ("/a\\b", "backslash"),
    ("/..\\admin", "backslash"),
    ("/a%5cb", "encoded_backslash"),
    ("/a%5Cb", "encoded_backslash"),
    ("/a%00", "null_byte"),
    ("/a%00.json", "null_byte"),
    ("/a\x00", "null_byte"),
    ("/a%0d%0aX-Injected:1", "control_character"),
    ("/a%0a", "control_character"),
    ("/a%7f", "control_character"),
    ("/a\tb", "control_character"),
    ("/%C0%AE%C0%AE/admin", "overlong_utf8"),
    ("/%c0%af", "overlong_utf8"),
    ("/%C1%9C", "overlong_utf8"),
    ("/%E0%80%AF", "overlong_utf8"),
    ("/%F0%80%80%AF", "overlong_utf8"),
    ("/%C3", "invalid_utf8"),
    ("/%C3%28", "invalid_utf8"),
    ("/%FF", "invalid_utf8"),
    ("/%ED%A0%80", "invalid_utf8"),
    ("/caf\u00e9", "invalid_utf8"),
    ("/%zz", "invalid_escape"),
    ("/%4", "invalid_escape"),
    ("/%", "invalid_escape"),
    ("/a%g0", "invalid_escape"),
    ("/%u002e%u002e/admin", "invalid_escape"),
    ("/a%2F..%2Fadmin", "encoded_traversal"),
    ("/a%2f%2e%2e%2fadmin", "encoded_traversal"),
    ("/a/..%2Fadmin", "encoded_traversal"),
    ("/a/.%2Fadmin", "encoded_traversal"),
    ("/a/..%3B/admin", "encoded_traversal"),
    ("/a/x%2F..", "encoded_traversal"),
    ("/a\u0100", "invalid_character"),
]


@pytest.mark.parametrize(("raw", "expected", "encoded_slash"), ACCEPTED)
def test_normalize_accepted(raw: str, expected: str, encoded_slash: bool) -> None:
    assert normalize_path(raw) == (expected, encoded_slash)


@pytest.mark.parametrize(("raw", "code"), REJECTED)
def test_normalize_rejected(raw: str, code: str) -> None:
    with pytest.raises(PathError) as caught:
        normalize_path(raw)
    assert caught.value.code == code
    assert caught.value.message


def test_table_sizes() -> None:
    assert len(ACCEPTED) + len(REJECTED) >= 90


def test_path_error_carries_code_and_message() -> None:
    with pytest.raises(PathError) as caught:
        normalize_path("/%zq")
    assert caught.value.message == "The request path contains an invalid percent-escape '%zq'."
    assert str(caught.value).startswith("invalid_escape: ")


_DOT_SEGMENT_NAMES = {".", ".."}
_PATH_ALPHABET = st.sampled_from(
    ["/", "/", ".", "..", "%2e", "%2E", "%2f", "%2F", "%25", "%5c", ";", "a", "B", "~", "%41", "%c3%a9",
     "%C0%AE", "%00", "\\", "%", "2e", "%3B", " ", "x", "admin", "%e2%82%ac", "//", "?"]
)


def _is_dot_segment(segment: str) -> bool:
    return segment.partition(";")[0] in _DOT_SEGMENT_NAMES


def _check_output(path: str) -> None:
    assert path.startswith("/")
    assert "//" not in path
    assert not any(_is_dot_segment(segment) for segment in path.split("/"))
    assert "\\" not in path
    assert "%5C" not in path.upper()
    assert "%2E" not in path.upper()
    assert not re.search(r"%25[0-9A-Fa-f]{2}", path)
    decoded_once = unquote(path, errors="strict")
    for segment in re.split(r"[/\\]", decoded_once):
        assert not _is_dot_segment(segment), (path, decoded_once)


@settings(max_examples=2000, deadline=None)
@given(st.lists(_PATH_ALPHABET, max_size=20).map(lambda parts: "/" + "".join(parts)))
def test_normalize_properties_on_tricky_input(raw: str) -> None:
    try:
        path, encoded_slash = normalize_path(raw)
    except PathError:
        return
    _check_output(path)
    assert normalize_path(path) == (path, encoded_slash)
    assert encoded_slash == ("%2F" in path)


@settings(max_examples=1000, deadline=None)
@given(st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0xFF), max_size=40))
def test_normalize_properties_on_any_latin1(text: str) -> None:
    try:
        path, encoded_slash = normalize_path("/" + text)
    except PathError:
        return
    _check_output(path)
    assert normalize_path(path) == (path, encoded_slash)


def test_route_key_strips_parameters_and_splits_slashes() -> None:
    assert route_key("/admin;x/users", split_encoded_slashes=False) == "/admin/users"
    assert route_key("/;x/admin", split_encoded_slashes=False) == "/admin"
    assert route_key("/admin%2Fusers", split_encoded_slashes=False) == "/admin%2Fusers"
    assert route_key("/admin%2Fusers", split_encoded_slashes=True) == "/admin/users"
    assert route_key("/a%2F%2Fb", split_encoded_slashes=True) == "/a/b"


def _table(*routes: tuple[Match, bool, str]) -> RouteTable[str]:
    return RouteTable(list(routes))


def test_prefix_respects_segments() -> None:
    table = _table((Match(path="/api"), False, "api"))
    assert table.match("GET", "/api") == ("api", {})
    assert table.match("GET", "/api/") == ("api", {})
    assert table.match("GET", "/api/x/y") == ("api", {})
    assert table.match("GET", "/apix") is None
    assert table.match("GET", "/") is None


def test_prefix_with_trailing_slash() -> None:
    table = _table((Match(path="/api/"), False, "api"))
    assert table.match("GET", "/api") == ("api", {})
    assert table.match("GET", "/api/v1") == ("api", {})
    assert table.match("GET", "/apiv1") is None


def test_root_matches_everything() -> None:
    table = _table((Match(path="/"), False, "root"))
    assert table.match("GET", "/") == ("root", {})
    assert table.match("DELETE", "/anything/at/all") == ("root", {})


def test_first_matching_entry_wins() -> None:
    table = _table((Match(path="/admin"), False, "admin"), (Match(path="/"), False, "root"))
    assert table.match("GET", "/admin/users") == ("admin", {})
    assert table.match("GET", "/users") == ("root", {})


def test_case_insensitive_by_default() -> None:
    table = _table((Match(path="/Admin"), False, "admin"), (Match(path="/"), False, "root"))
    assert table.match("GET", "/ADMIN") == ("admin", {})
    assert table.match("GET", "/admin/x") == ("admin", {})
    assert table.match("GET", "/aDmIn") == ("admin", {})


def test_case_sensitive_opt_in() -> None:
    exact = Match(path="/Admin", case_sensitive=True)
    table = _table((exact, False, "admin"), (Match(path="/"), False, "root"))
    assert table.match("GET", "/Admin") == ("admin", {})
    assert table.match("GET", "/admin") == ("root", {})


def test_path_parameters_cannot_hide_prefix() -> None:
    table = _table((Match(path="/admin"), False, "admin"), (Match(path="/"), False, "root"))
    assert table.match("GET", "/admin;jsessionid=1") == ("admin", {})
    assert table.match("GET", "/admin;x/users") == ("admin", {})
    assert table.match("GET", "/;x/admin") == ("admin", {})


def test_methods_filter() -> None:
    table = _table(
        (Match(path="/items", methods=["get", "HEAD"]), False, "read"),
        (Match(path="/items", methods=["POST"]), False, "write"),
    )
    assert table.match("GET", "/items") == ("read", {})
    assert table.match("HEAD", "/items/1") == ("read", {})
    assert table.match("POST", "/items") == ("write", {})
    assert table.match("DELETE", "/items") is None
    assert table.match("get", "/items") is None


def test_template_extracts_parameters() -> None:
    table = _table((Match(path="/users/{id}"), False, "user"))
    assert table.match("GET", "/users/7") == ("user", {"id": "7"})
    assert table.match("GET", "/users/7/orders") == ("user", {"id": "7"})
    assert table.match("GET", "/users") is None
    assert table.match("GET", "/users/") is None
    assert table.match("GET", "/usersx/7") is None


def test_template_keeps_parameter_case() -> None:
    table = _table((Match(path="/Users/{userId}/orders/{order_id}"), False, "order"))
    assert table.match("GET", "/USERS/AbC/ORDERS/x-Y") == ("order", {"userId": "AbC", "order_id": "x-Y"})


def test_template_parameter_inside_segment() -> None:
    table = _table((Match(path="/files/{name}.json"), False, "file"))
    assert table.match("GET", "/files/report.json") == ("file", {"name": "report"})
    assert table.match("GET", "/files/report.xml") is None


def test_template_parameter_drops_path_parameters() -> None:
    table = _table((Match(path="/users/{id}"), False, "user"))
    assert table.match("GET", "/users/7;x=1/orders") == ("user", {"id": "7"})


def test_encoded_slash_rejected_by_route() -> None:
    table = _table((Match(path="/admin"), False, "admin"), (Match(path="/"), True, "root"))
    with pytest.raises(PathError) as caught:
        table.match("GET", "/admin%2Fusers")
    assert caught.value.code == "encoded_slash"
    assert table.match("GET", "/files%2Fx") == ("root", {})


def test_encoded_slash_allowed_by_route() -> None:
    table = _table((Match(path="/files/{name}"), True, "file"))
    assert table.match("GET", "/files/a%2Fb") == ("file", {"name": "a%2Fb"})


def test_encoded_slash_cannot_reach_permissive_route() -> None:
    table = _table((Match(path="/public"), True, "public"), (Match(path="/admin"), False, "admin"))
    with pytest.raises(PathError):
        table.match("GET", "/admin%2F..")
    assert table.match("GET", "/public/a%2Fb") == ("public", {})


def test_route_path_must_be_normal() -> None:
    with pytest.raises(ValueError, match="contains a dot segment"):
        _table((Match(path="/a/../b"), False, "x"))
    with pytest.raises(ValueError, match="is invalid"):
        _table((Match(path="/a%00"), False, "x"))


def test_duplicate_template_parameter_rejected() -> None:
    with pytest.raises(ValueError, match="appears twice"):
        _table((Match(path="/a/{id}/b/{id}"), False, "x"))


def test_route_path_non_ascii_is_encoded() -> None:
    table = _table((Match(path="/café"), False, "cafe"))
    assert table.match("GET", normalize_path("/caf\u00c3\u00a9/menu")[0]) == ("cafe", {})


def test_normalised_paths_route_like_their_canonical_form() -> None:
    table = _table((Match(path="/admin"), False, "admin"), (Match(path="/"), False, "root"))
    for raw in ["//admin", "/api/..;/admin", "/x/%2e%2e/admin", "/%61dmin", "/ADMIN/", "/admin;x"]:
        path, _ = normalize_path(raw)
        assert table.match("GET", path) == ("admin", {}), raw


_ROUTE_PATHS = [
    "/", "/api", "/API/v1", "/api/{id}", "/{tenant}/admin", "/users/{id}/orders", "/admin", "/v{n}",
]
_REQUEST_SEGMENTS = ["api", "API", "v1", "admin", "users", "7", "orders", "vX", "x;p=1", ""]


def _scan_reference(entries: list[tuple[Match, bool, int]], method: str, path: str) -> int | None:
    """Match by testing every route on its own, as a check of the first-segment index."""
    for match, allow, payload in entries:
        if RouteTable([(match, allow, payload)]).match(method, path) is not None:
            return payload
    return None


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(_ROUTE_PATHS), st.booleans(), st.sampled_from([None, ["GET"], ["POST"]])),
        min_size=1, max_size=6,
    ),
    st.lists(st.sampled_from(_REQUEST_SEGMENTS), max_size=4),
    st.sampled_from(["GET", "POST"]),
)
def test_route_index_matches_full_scan(
    routes: list[tuple[str, bool, list[str] | None]], segments: list[str], method: str
) -> None:
    entries = [
        (Match(path=path, case_sensitive=case_sensitive, methods=methods), False, index)
        for index, (path, case_sensitive, methods) in enumerate(routes)
    ]
    path, _ = normalize_path("/" + "/".join(segments))
    found = RouteTable(entries).match(method, path)
    assert (found[0] if found is not None else None) == _scan_reference(entries, method, path)
