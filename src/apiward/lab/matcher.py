"""A tiny document matcher in the style of MongoDB queries, for the NoSQL-injection hole.

``matches({"api_key": {"$ne": ""}}, row)`` is True for every row with a non-empty key, which is
exactly why a server must never pass client JSON objects into such a filter.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any


def _compare(op: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    def compare(actual: Any, expected: Any) -> bool:
        try:
            return op(actual, expected)
        except TypeError:
            return False

    return compare


OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "$eq": lambda actual, expected: actual == expected,
    "$ne": lambda actual, expected: actual != expected,
    "$gt": _compare(lambda actual, expected: actual > expected),
    "$gte": _compare(lambda actual, expected: actual >= expected),
    "$lt": _compare(lambda actual, expected: actual < expected),
    "$lte": _compare(lambda actual, expected: actual <= expected),
    "$in": lambda actual, expected: isinstance(expected, list) and actual in expected,
    "$nin": lambda actual, expected: isinstance(expected, list) and actual not in expected,
}


class UnknownOperatorError(ValueError):
    """A filter used an operator this matcher does not implement."""


def matches(query: Mapping[str, Any], document: Mapping[str, Any]) -> bool:
    """Return True when ``document`` satisfies every condition of ``query``."""
    for field, condition in query.items():
        actual = document.get(field)
        if isinstance(condition, Mapping):
            for operator, expected in condition.items():
                if operator not in OPERATORS:
                    raise UnknownOperatorError(f"unknown operator {operator!r}")
                if not OPERATORS[operator](actual, expected):
                    return False
        elif actual != condition:
            return False
    return True
