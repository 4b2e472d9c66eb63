"""The WAF engine: extract fields, decode them, run every signature in one scan, and score.

All decoded texts of a request are joined into one buffer and scanned once by hyperscan. Match
offsets are mapped back to the field they fall in, and a match that spans two fields is dropped.
libinjection then checks the texts whose characters could make them SQL or HTML.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import re
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import hyperscan
import libinjection

from apiward.waf.bodies import extract_body, walk_json
from apiward.waf.database import load_database
from apiward.waf.decode import Variant, decoded_variants, maybe_base64
from apiward.waf.fields import KEY_PREFIX, SKIPPED_HEADERS, Anomaly, Extraction, Field, Limits, extract_head
from apiward.waf.openapi import ApiSchema, Validator, field_validator
from apiward.waf.prescan import JsonPrescan
from apiward.waf.protocol import check_head
from apiward.waf.request import HttpRequest
from apiward.waf.signatures import Signature, builtin_signatures

LIBINJECTION_SQLI = 1
LIBINJECTION_XSS = 2
_SQL_CHARS = frozenset("'\"`;#(")
_DECODABLE = re.compile(r"[%&\\\x00'\"^`$]|/\*|IFS")
"""Text that some decoding step can remove or change; values without it skip decoding."""
_LIBINJECTION_HINT = re.compile(r"[;'\"`#(<]|--|/\*")
"""Text without any of these cannot make libinjection report SQL or HTML, so it skips the checks."""
CLEAN_FIELD_MEMO_MAX = 4096
"""Field values remembered as clean per engine; the memo is emptied when full."""
CLEAN_FIELD_VALUE_MAX = 2048
"""Longer values are not remembered, which bounds the memo to about 8 MB per engine."""
_CATEGORY = {
    "ssrf": "API7:2023",
    "prototype-pollution": "API3:2023",
    "graphql": "API4:2023",
}


@dataclass(frozen=True, slots=True)
class Exclusion:
    """Matches to ignore: by rule id, by class, in fields whose location matches a glob.

    An empty ``rule_ids`` with an empty ``classes`` means every rule; an empty ``fields`` means
    every field.
    """

    rule_ids: frozenset[str] = frozenset()
    classes: frozenset[str] = frozenset()
    fields: tuple[str, ...] = ()

    def covers(self, rule_id: str, attack_class: str, location: str) -> bool:
        """Say whether this exclusion removes a match of ``rule_id`` in ``location``."""
        if (
            (self.rule_ids or self.classes)
            and rule_id not in self.rule_ids
            and attack_class not in self.classes
        ):
            return False
        return not self.fields or any(fnmatch.fnmatchcase(location, pattern) for pattern in self.fields)


@dataclass(frozen=True, slots=True)
class Settings:
    """Engine settings: paranoia level, threshold, limits and exclusions."""

    paranoia: int = 1
    threshold: int = 5
    limits: Limits = field(default_factory=Limits)
    on_limit: Literal["deny", "pass"] = "deny"
    exclusions: tuple[Exclusion, ...] = ()
    libinjection: bool = True
    skip_headers: frozenset[str] = frozenset()
    """Further headers not to inspect, such as those a proxy in front sets itself."""
    libinjection_sqli_score: int = 5
    code_block_score: int = 2
    """Highest total score the matches in one value holding a Markdown code fence add up to.

    Documentation and support texts quote SQL, shell and HTML in code blocks. Such a value is
    still scanned and its matches reported, but alone it cannot reach the threshold.
    NOTE: an attacker who wraps a payload in a code fence gets the same allowance; routes whose
    fields never carry Markdown can set this to the threshold.
    """


@dataclass(frozen=True, slots=True)
class Match:
    """One detection: which rule fired, in which field, after which decoding steps."""

    rule_id: str
    attack_class: str
    category: str
    score: int
    location: str
    chain: tuple[str, ...]
    excerpt: str
    description: str


class Decision:
    """The outcome of inspecting one request.

    A plain class rather than a dataclass, so that its per-request constructor is compiled.
    """

    __slots__ = ("deny_on_limit", "limit_anomalies", "locations", "matches", "score", "threshold", "typed",
                 "values")

    def __init__(
        self,
        score: int,
        threshold: int,
        matches: list[Match] | None = None,
        limit_anomalies: list[Anomaly] | None = None,
        deny_on_limit: bool = True,
        locations: list[str] | None = None,
        values: list[str] | None = None,
        typed: list[str] | None = None,
    ) -> None:
        self.score = score
        self.threshold = threshold
        self.matches: list[Match] = matches if matches is not None else []
        self.limit_anomalies: list[Anomaly] = limit_anomalies if limit_anomalies is not None else []
        self.deny_on_limit = deny_on_limit
        self.locations: list[str] = locations if locations is not None else []
        self.values: list[str] = values if values is not None else []
        self.typed: list[str] = typed if typed is not None else []
        """Locations of fields not scanned because the OpenAPI schema types them and they validate."""

    def __repr__(self) -> str:
        return f"Decision(score={self.score!r}, threshold={self.threshold!r}, matches={self.matches!r})"

    @property
    def fields(self) -> list[Field]:
        """The inspected fields as objects, for reports."""
        return [Field(location, value) for location, value in zip(self.locations, self.values, strict=True)]

    @property
    def blocked(self) -> bool:
        """Whether the request crosses the threshold or a limit whose policy is deny."""
        return self.score >= self.threshold or (self.deny_on_limit and bool(self.limit_anomalies))

    @property
    def top(self) -> Match | None:
        """The highest-scoring match, which names the request's class in events."""
        return max(self.matches, key=lambda match: match.score, default=None)


class Engine:
    """A compiled signature set at one paranoia level, reused for every request."""

    def __init__(
        self,
        settings: Settings = Settings(),
        custom: Sequence[Signature] = (),
        signatures: Sequence[Signature] | None = None,
        schema: ApiSchema | None = None,
    ) -> None:
        self.settings = settings
        self.schema = schema
        self.skipped_headers = SKIPPED_HEADERS | settings.skip_headers
        every = list(signatures) if signatures is not None else builtin_signatures()
        active = [signature for signature in [*every, *custom] if signature.paranoia <= settings.paranoia]
        self.signatures = {signature.id: signature for signature in active}
        self.database = load_database(active)
        self.scratch = hyperscan.Scratch(self.database)
        self.database.scratch = self.scratch
        self.prescan = JsonPrescan(active)
        self._clean: dict[str, set[str]] = {}
        """Values that were scanned and matched nothing, by field location (see :meth:`_skip_clean`)."""
        self._clean_count = 0

    def inspect(self, request: HttpRequest, *, body: bool = True, report_fields: bool = True) -> Decision:
        """Inspect the head of ``request`` and, when ``body`` is true, its body.

        With ``report_fields`` false, a plain JSON body (see :func:`~apiward.waf.bodies.extract_body`)
        is scanned as one text and split into fields only when that text matches, so a clean
        decision then lists no body fields. The findings are the same either way.
        """
        extraction = Extraction(self.settings.limits, defer_plain_json=not report_fields)
        extract_head(request, extraction, self.skipped_headers)
        check_head(request, extraction)
        if body and request.body:
            extract_body(request, request.body, extraction)
        return self.decide(extraction, self._validators(request))

    def merge(self, first: Decision, second: Decision) -> Decision:
        """Combine the decisions on a request's head and on its body into one."""
        matches = first.matches + second.matches
        return Decision(
            score=_score(matches),
            threshold=self.settings.threshold,
            matches=matches,
            limit_anomalies=first.limit_anomalies + second.limit_anomalies,
            deny_on_limit=self.settings.on_limit == "deny",
            locations=first.locations + second.locations,
            values=first.values + second.values,
            typed=first.typed + second.typed,
        )

    def inspect_body(self, request: HttpRequest, *, report_fields: bool = True) -> Decision:
        """Inspect only the body of ``request`` (the head was inspected before it arrived)."""
        extraction = Extraction(self.settings.limits, defer_plain_json=not report_fields)
        extract_body(request, request.body, extraction)
        return self.decide(extraction, self._validators(request))

    def _validators(self, request: HttpRequest) -> dict[str, Validator] | None:
        if self.schema is None:
            return None
        return self.schema.validators_for(request.method, request.path)

    def decide(self, extraction: Extraction, validators: dict[str, Validator] | None = None) -> Decision:
        """Scan the extracted fields and score what matched.

        ``validators`` come from the route's OpenAPI schema. Fields they type and accept are left
        out of the scan, and a field that fails its validator is scanned like free text.
        """
        if extraction.deferred_json is not None:
            self._expand_deferred_json(extraction)
        locations, values = self._skip_clean(extraction.locations, extraction.values)
        typed: list[str] = []
        if validators:
            locations, values, typed = _untyped_fields(locations, values, validators)
        if not values and not extraction.anomalies:
            # Every field is known clean, typed by the schema, or absent: nothing can score.
            return Decision(0, self.settings.threshold, deny_on_limit=self.settings.on_limit == "deny",
                            locations=extraction.locations, values=extraction.values, typed=typed)

        joined = "\n".join(values)
        if _DECODABLE.search(joined) is None:
            # Fast path: only base64 candidates can have a decoded form.
            candidates = [
                index for index, value in enumerate(values) if len(value) >= 16 and maybe_base64(value)
            ]
        else:
            candidates = list(range(len(values)))
        texts, owners = _variants(values, candidates)

        buffer = joined if not candidates or texts is values else "\n".join(texts)
        matches = self._scan(buffer, texts, owners, locations)
        if self.settings.libinjection and _LIBINJECTION_HINT.search(buffer) is not None:
            matches.extend(self._libinjection(texts, owners, locations))
        if values:
            self._remember_clean(locations, values, matches)
        for anomaly in extraction.anomalies:
            if not anomaly.limit:
                matches.append(
                    Match(
                        f"anomaly:{anomaly.code}",
                        anomaly.attack_class,
                        _category(anomaly.attack_class),
                        anomaly.score,
                        anomaly.location,
                        (),
                        "",
                        anomaly.message,
                    )
                )
        if matches:
            matches = self._exclude(self._damp_code_blocks(matches, extraction))
        return Decision(
            score=_score(matches),
            threshold=self.settings.threshold,
            matches=matches,
            limit_anomalies=[anomaly for anomaly in extraction.anomalies if anomaly.limit],
            deny_on_limit=self.settings.on_limit == "deny",
            locations=extraction.locations,
            values=extraction.values,
            typed=typed,
        )

    def _expand_deferred_json(self, extraction: Extraction) -> None:
        assert extraction.deferred_json is not None
        document, strings = extraction.deferred_json
        extraction.deferred_json = None
        if self.prescan.needs_walk(strings):
            walk_json(document, "$", 0, extraction)

    def forget_clean_fields(self) -> None:
        """Empty the memo of clean values, so the next inspection scans every field."""
        self._clean.clear()
        self._clean_count = 0

    def is_known_clean(self, location: str, value: str) -> bool:
        """Tell whether ``value`` at ``location`` was scanned before and matched nothing."""
        known = self._clean.get(location)
        return known is not None and value in known

    def _skip_clean(self, locations: list[str], values: list[str]) -> tuple[list[str], list[str]]:
        """Leave out the fields whose value matched nothing before at the same location.

        A field's matches depend only on its location and value: signatures apply by location,
        matches that span two fields are dropped, and the decoded forms of a value depend on the
        value alone. So a value found clean once stays clean for this engine. Clients repeat most
        header values and many path and query values, and those then skip the scan.
        """
        clean = self._clean
        if not clean:
            return locations, values
        kept_locations: list[str] = []
        kept_values: list[str] = []
        for index in range(len(values)):
            location = locations[index]
            value = values[index]
            known = clean.get(location)
            if known is not None and value in known:
                continue
            kept_locations.append(location)
            kept_values.append(value)
        return kept_locations, kept_values

    def _remember_clean(self, locations: list[str], values: list[str], matches: list[Match]) -> None:
        """Remember the scanned values at locations where nothing matched."""
        matched = {match.location for match in matches}
        clean = self._clean
        for index in range(len(values)):
            location = locations[index]
            value = values[index]
            if location in matched or len(value) > CLEAN_FIELD_VALUE_MAX:
                continue
            if self._clean_count >= CLEAN_FIELD_MEMO_MAX:
                clean.clear()
                self._clean_count = 0
            known = clean.get(location)
            if known is None:
                known = clean[location] = set()
            if value not in known:
                known.add(value)
                self._clean_count += 1

    def _scan(
        self, joined: str, texts: list[str], owners: list[tuple[int, tuple[str, ...]]], locations: list[str]
    ) -> list[Match]:
        if not texts:
            return []
        buffer = (joined + "\n").encode("utf-8", "replace")
        hits: list[tuple[int, int]] = []

        def on_match(ident: int, _start: int, end: int, _flags: int, _context: object) -> None:
            hits.append((ident, end))

        self.database.scan(buffer, match_event_handler=on_match)
        if not hits:
            return []
        return self._confirm(hits, texts, owners, locations)

    def _confirm(
        self,
        hits: list[tuple[int, int]],
        texts: list[str],
        owners: list[tuple[int, tuple[str, ...]]],
        locations: list[str],
    ) -> list[Match]:
        """Map match ends to texts and rescan each such text alone.

        Hyperscan cannot track where large patterns start, so a match ending in one text may have
        started in the one before. Rescanning the single text drops those, and only requests that
        matched pay for it.
        """
        starts: list[int] = []
        encoded: list[bytes] = []
        position = 0
        for text in texts:
            data = (text + "\n").encode("utf-8", "replace")
            starts.append(position)
            encoded.append(data)
            position += len(data)
        pieces = sorted({bisect_right(starts, end - 1) - 1 for _, end in hits})
        found: dict[tuple[int, int], Match] = {}
        for piece in pieces:
            field_index, chain = owners[piece]
            location = locations[field_index]
            for ident, end in self._scan_one(encoded[piece]):
                if (ident, field_index) in found:
                    continue
                signature = self.signatures[ident]
                if not _applies(signature, location):
                    continue
                excerpt = encoded[piece][max(0, end - 80) : end].decode("utf-8", "replace")
                found[(ident, field_index)] = Match(
                    str(ident),
                    signature.attack_class,
                    signature.category,
                    signature.score,
                    locations[field_index],
                    chain,
                    excerpt,
                    signature.description,
                )
        return list(found.values())

    def _scan_one(self, data: bytes) -> list[tuple[int, int]]:
        hits: list[tuple[int, int]] = []

        def on_match(ident: int, _start: int, end: int, _flags: int, _context: object) -> None:
            hits.append((ident, end))

        self.database.scan(data, match_event_handler=on_match)
        return hits

    def _libinjection(
        self, texts: list[str], owners: list[tuple[int, tuple[str, ...]]], locations: list[str]
    ) -> list[Match]:
        matches: list[Match] = []
        flagged: set[tuple[int, int]] = set()
        for text, (field_index, chain) in zip(texts, owners, strict=True):
            if locations[field_index].startswith(KEY_PREFIX):
                continue
            if (not _SQL_CHARS.isdisjoint(text) or "--" in text or "/*" in text) and (
                LIBINJECTION_SQLI,
                field_index,
            ) not in flagged:
                result = libinjection.is_sql_injection(text)
                if result["is_sqli"]:
                    flagged.add((LIBINJECTION_SQLI, field_index))
                    matches.append(
                        Match(
                            "libinjection-sqli",
                            "sqli",
                            "API8:2023",
                            _sqli_score(result["fingerprint"], self.settings.libinjection_sqli_score),
                            locations[field_index],
                            chain,
                            text[:120],
                            f"SQL token sequence {result['fingerprint']!r}",
                        )
                    )
            if (
                "<" in text
                and (LIBINJECTION_XSS, field_index) not in flagged
                and libinjection.is_xss(text)["is_xss"]
            ):
                flagged.add((LIBINJECTION_XSS, field_index))
                matches.append(
                    Match(
                        "libinjection-xss",
                        "xss",
                        "API8:2023",
                        5,
                        locations[field_index],
                        chain,
                        text[:120],
                        "HTML that runs script",
                    )
                )
        return matches

    def _damp_code_blocks(self, matches: list[Match], extraction: Extraction) -> list[Match]:
        if not matches:
            return matches
        documents = {
            location
            for location, value in zip(extraction.locations, extraction.values, strict=True)
            if "```" in value
        }
        if not documents:
            return matches
        damped: list[Match] = []
        budget = dict.fromkeys(documents, self.settings.code_block_score)
        for match in matches:
            if match.location in budget:
                score = min(match.score, budget[match.location])
                budget[match.location] -= score
                match = dataclasses.replace(match, score=score)
            damped.append(match)
        return damped

    def _exclude(self, matches: list[Match]) -> list[Match]:
        exclusions = self.settings.exclusions
        if not exclusions or not matches:
            return matches
        return [
            match
            for match in matches
            if not any(rule.covers(match.rule_id, match.attack_class, match.location) for rule in exclusions)
        ]


def _untyped_fields(
    locations: list[str], values: list[str], validators: dict[str, Validator]
) -> tuple[list[str], list[str], list[str]]:
    """Split fields into those to scan and the locations of those the schema types and accepts."""
    kept_locations: list[str] = []
    kept_values: list[str] = []
    typed: list[str] = []
    for location, value in zip(locations, values, strict=True):
        check = field_validator(validators, location)
        if check is not None and check(value):
            typed.append(location)
        else:
            kept_locations.append(location)
            kept_values.append(value)
    return kept_locations, kept_values, typed


def _variants(
    values: list[str], candidates: list[int]
) -> tuple[list[str], list[tuple[int, tuple[str, ...]]]]:
    """Return the texts to scan (each value and its decoded forms) and, per text, its field and chain."""
    owners: list[tuple[int, tuple[str, ...]]] = [(index, ()) for index in range(len(values))]
    if not candidates:
        return values, owners
    texts: list[str] = []
    owners = []
    pending = set(candidates)
    for index, value in enumerate(values):
        variants: list[Variant] = decoded_variants(value) if index in pending else [(value, ())]
        for text, chain in variants:
            texts.append(text)
            owners.append((index, chain))
    return texts, owners


def _sqli_score(fingerprint: str, score: int) -> int:
    """Score a libinjection SQLi fingerprint, lower for the shapes of boolean search syntax.

    Search boxes and rule editors accept ``"a b" AND (c OR d)`` or ``x < y && !(z)``, which
    libinjection reads as a bare word or number joined to a group by a boolean operator. Those
    fingerprints still count, but need a second finding to block.
    """
    if fingerprint[:1] == "n" or fingerprint.startswith(("1&s", "s&(n")):
        return min(score, 2)
    return score


def _applies(signature: Signature, location: str) -> bool:
    if location.startswith(KEY_PREFIX):
        return signature.keys
    return not signature.scope or location.startswith(signature.scope)


def _category(attack_class: str) -> str:
    return _CATEGORY.get(attack_class, "API8:2023")


def _score(matches: list[Match]) -> int:
    if not matches:
        return 0
    best: dict[str, int] = {}
    for match in matches:
        best[match.rule_id] = max(best.get(match.rule_id, 0), match.score)
    return sum(best.values())
