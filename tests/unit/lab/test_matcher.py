"""The MongoDB-style matcher behind the NoSQL-injection hole."""

from __future__ import annotations

import pytest

from apiward.lab.matcher import UnknownOperatorError, matches

ROW = {"username": "admin", "api_key": "ak_123", "credit": 5}


@pytest.mark.parametrize(
    "query, expected",
    [
        ({"username": "admin", "api_key": "ak_123"}, True),
        ({"username": "admin", "api_key": "wrong"}, False),
        ({"username": "admin", "api_key": {"$ne": ""}}, True),
        ({"api_key": {"$in": ["ak_123", "x"]}}, True),
        ({"api_key": {"$nin": ["ak_123"]}}, False),
        ({"credit": {"$gt": 4, "$lt": 6}}, True),
        ({"credit": {"$gte": 6}}, False),
        ({"credit": {"$gt": "text"}}, False),
        ({"missing": {"$eq": None}}, True),
    ],
)
def test_matches(query: dict[str, object], expected: bool) -> None:
    assert matches(query, ROW) is expected


def test_unknown_operator() -> None:
    with pytest.raises(UnknownOperatorError, match="unknown operator '\\$where'"):
        matches({"api_key": {"$where": "1"}}, ROW)
