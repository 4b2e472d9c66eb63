"""Bucket keys of the rate_limit and quota stages: ``name|part|part...`` built from a request.

A limit's key lists parts (client, consumer, route, global, header:<name>). They are compiled
once into a single :class:`KeyPart`, with the fixed text merged, so that the common keys cost
one string build per request. The parts are small classes rather than closures because the
compiled stage then calls them natively instead of through a Python-level call.
"""

from __future__ import annotations

from apiward.gateway.pipeline import Exchange
from apiward.gateway.stages.access_support import client_key, short_value


class KeyPart:
    """One part of a bucket key, read from the exchange."""

    def value(self, exchange: Exchange) -> str:
        raise NotImplementedError


class TextPart(KeyPart):
    """Fixed text: the route name, ``*`` for a global bucket, or the separators between parts."""

    def __init__(self, text: str) -> None:
        self.text = text

    def value(self, exchange: Exchange) -> str:
        return self.text


class ClientPart(KeyPart):
    """The resolved client address, grouped by prefix."""

    def __init__(self, ipv4_prefix: int, ipv6_prefix: int) -> None:
        self.ipv4_prefix = ipv4_prefix
        self.ipv6_prefix = ipv6_prefix

    def value(self, exchange: Exchange) -> str:
        return client_key(exchange, self.ipv4_prefix, self.ipv6_prefix)


class ConsumerPart(ClientPart):
    """The verified consumer (or subject), or the client address of an anonymous caller."""

    def value(self, exchange: Exchange) -> str:
        identity = exchange.identity
        if identity is None:
            return "anonymous@" + client_key(exchange, self.ipv4_prefix, self.ipv6_prefix)
        return "c=" + short_value(identity.consumer or identity.subject)


class HeaderPart(KeyPart):
    """The value of one request header, hashed when long."""

    def __init__(self, header: str) -> None:
        self.header = header

    def value(self, exchange: Exchange) -> str:
        return "h=" + short_value(exchange.headers.get(self.header, "") or "")


class FramedPart(KeyPart):
    """A part between fixed text, such as the whole default key ``name|<client>|<route>``."""

    def __init__(self, head: str, part: KeyPart, tail: str) -> None:
        self.head = head
        self.part = part
        self.tail = tail

    def value(self, exchange: Exchange) -> str:
        return f"{self.head}{self.part.value(exchange)}{self.tail}"


class JoinedParts(KeyPart):
    """Parts joined in order, adjacent fixed text already merged into one part."""

    def __init__(self, parts: tuple[KeyPart, ...]) -> None:
        self.parts = parts

    def value(self, exchange: Exchange) -> str:
        return "".join([part.value(exchange) for part in self.parts])


def key_part(part: str, route_name: str, ipv4_prefix: int, ipv6_prefix: int) -> KeyPart:
    """Return the part that a policy's key entry names (validated at load)."""
    if part == "client":
        return ClientPart(ipv4_prefix, ipv6_prefix)
    if part == "route":
        return TextPart(route_name)
    if part == "global":
        return TextPart("*")
    if part == "consumer":
        return ConsumerPart(ipv4_prefix, ipv6_prefix)
    return HeaderPart(part.removeprefix("header:"))


def bucket_key(name: str, parts: list[KeyPart]) -> KeyPart:
    """Compile the key ``name|part|part...`` into one part, choosing the cheapest form that builds it."""
    texts: list[str] = []
    per_request: list[KeyPart] = []
    text = name
    for part in parts:
        text += "|"
        if isinstance(part, TextPart):
            text += part.text
        else:
            texts.append(text)
            per_request.append(part)
            text = ""
    if not per_request:
        return TextPart(text)
    if len(per_request) == 1:
        return FramedPart(texts[0], per_request[0], text)
    pieces: list[KeyPart] = []
    for before, part in zip(texts, per_request, strict=True):
        pieces.append(TextPart(before))
        pieces.append(part)
    if text:
        pieces.append(TextPart(text))
    return JoinedParts(tuple(pieces))
