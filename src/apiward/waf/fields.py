"""Fields of a request the signatures run over: path, query, headers, cookies and body values.

Every field has a location that names where it came from (``query.id``, ``header.user-agent``,
``body.$.items[0].name``), so a match can be reported, excluded or explained by that name.
Query, form and cookie *names* are fields too (attackers put payloads there), but JSON object
keys are not, except for names that pollute prototypes, which become findings of their own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

from apiward.waf.request import HttpRequest

KEY_PREFIX = "body-key."
"""Location prefix of JSON object keys; only signatures marked ``keys: true`` match them."""

SKIPPED_HEADERS = frozenset(
    {
        "content-length",
        "connection",
        "host",
        "cookie",
        "accept-encoding",
        "transfer-encoding",
        "keep-alive",
        "content-encoding",
    }
)
"""Headers whose value the gateway parses itself or that carry no application data."""


@dataclass(slots=True)
class Field:
    """One value to inspect and where it came from."""

    location: str
    value: str


@dataclass(frozen=True, slots=True)
class Anomaly:
    """Something wrong with the request's shape, found while extracting fields.

    ``limit`` anomalies follow the configured limit policy instead of adding to the score.
    """

    code: str
    attack_class: str
    location: str
    message: str
    score: int = 5
    limit: bool = False


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds on what extraction reads; going past one records a ``limit`` anomaly."""

    max_body_bytes: int = 1024 * 1024
    max_fields: int = 2048
    max_depth: int = 64
    max_graphql_depth: int = 15
    max_graphql_aliases: int = 30
    max_graphql_batch: int = 10


class Extraction:
    """The fields of one request and the anomalies met while reading it.

    Locations and values are kept in two parallel lists, because building an object per field
    costs more than the rest of the inspection of a typical request. A plain class rather than
    a dataclass, so that its per-request constructor is compiled.
    """

    __slots__ = (
        "anomalies", "defer_plain_json", "deferred_json", "limits", "locations", "truncated", "values",
    )

    def __init__(self, limits: Limits, *, defer_plain_json: bool = False) -> None:
        self.limits = limits
        self.locations: list[str] = []
        self.values: list[str] = []
        self.anomalies: list[Anomaly] = []
        self.truncated = False
        self.defer_plain_json = defer_plain_json
        """Keep a JSON body that :func:`~apiward.waf.bodies.extract_body` finds plain as one text."""
        self.deferred_json: tuple[Any, list[str]] | None = None
        """A plain JSON body's parsed document and its inspectable strings, walked into fields only if
        one of the strings matches."""

    @property
    def fields(self) -> list[Field]:
        """The fields as objects, for reports and tests."""
        return [Field(location, value) for location, value in zip(self.locations, self.values, strict=True)]

    def add(self, location: str, value: str) -> None:
        """Add a field, or record the field-count limit once when it is reached."""
        if len(self.values) >= self.limits.max_fields:
            if not self.truncated:
                self.truncated = True
                self.anomalies.append(
                    Anomaly(
                        "too_many_fields",
                        "protocol",
                        location,
                        f"more than {self.limits.max_fields} fields",
                        limit=True,
                    )
                )
            return
        self.locations.append(location)
        self.values.append(value)

    def anomaly(self, code: str, attack_class: str, location: str, message: str, score: int = 5) -> None:
        self.anomalies.append(Anomaly(code, attack_class, location, message, score))

    def limit(self, code: str, location: str, message: str) -> None:
        self.anomalies.append(Anomaly(code, "protocol", location, message, limit=True))


_locations: dict[str, dict[str, str]] = {}
"""Shared location strings by prefix and then by name."""
LOCATION_MEMO_MAX = 4096
"""Names remembered per prefix; a prefix's memo is emptied when full."""
LOCATION_NAME_MAX = 64
"""Longer names are not remembered, which bounds the memo to well under 1 MB per prefix."""


def location_of(prefix: str, name: str) -> str:
    """Return ``prefix.name``, one shared string per pair seen recently.

    Requests repeat the same header and parameter names, and a shared string has its hash
    computed once, which the engine's per-location lookups then reuse.
    """
    names = _locations.get(prefix)
    if names is None:
        names = _locations[prefix] = {}
    location = names.get(name)
    if location is None:
        location = f"{prefix}.{name}"
        if len(name) <= LOCATION_NAME_MAX:
            if len(names) >= LOCATION_MEMO_MAX:
                names.clear()
            names[name] = location
    return location


def add_pairs(extraction: Extraction, prefix: str, text: str, separator: str = "&") -> None:
    """Add the names and values of ``a=1&b=2`` text (query strings, form bodies)."""
    name_location = f"{prefix}-name"
    for pair in text.split(separator):
        if not pair:
            continue
        name, equals, value = pair.partition("=")
        if "%" in name or "+" in name:
            name = unquote_plus(name, errors="replace")
            if "\r" in name or "\n" in name:
                extraction.anomaly(
                    "line_break_in_name", "protocol", name_location, "parameter name has a line break"
                )
            name = name.strip()
            inner_name, inner_equals, inner_value = name.partition("=")
            if inner_equals and inner_value:
                # The client encoded the "=" (a%3Dx). A parser that decodes before it splits
                # reads the text after "=" as the value, so it is inspected as a value too.
                extraction.add(f"{prefix}.{inner_name}", inner_value)
        extraction.add(name_location, name)
        if equals and value:
            extraction.add(location_of(prefix, name), value.replace("+", " "))


def add_cookies(extraction: Extraction, header: str) -> None:
    for pair in header.split(";"):
        name, equals, value = pair.strip().partition("=")
        if name:
            extraction.add("cookie-name", name)
        if equals and value:
            extraction.add(f"cookie.{name}", value)


def extract_head(
    request: HttpRequest, extraction: Extraction, skipped: frozenset[str] = SKIPPED_HEADERS
) -> None:
    """Add the fields of the request line and the headers whose names are not in ``skipped``."""
    extraction.add("path", request.path)
    if request.query:
        add_pairs(extraction, "query", request.query)
    for name, value in request.headers:
        if name == "cookie":
            add_cookies(extraction, value)
        elif name not in skipped and value:
            extraction.add(location_of("header", name), value)
