"""GraphQL document limits: selection depth, aliases per document and batch size."""

from __future__ import annotations

from typing import Any

import orjson
from graphql import GraphQLError, parse
from graphql.language import FieldNode, FragmentSpreadNode, InlineFragmentNode, OperationDefinitionNode

from apiward.waf.fields import Extraction

MAX_REPEATED_MUTATION = 3
"""A mutation field selected this many times in one document is treated as batching abuse."""


def inspect_graphql(text: str, extraction: Extraction, *, is_json: bool) -> None:
    """Check the GraphQL documents in a body (a JSON request, a JSON batch, or a raw document)."""
    documents = _documents(text) if is_json else [text]
    limits = extraction.limits
    if len(documents) > limits.max_graphql_batch:
        extraction.anomaly(
            "graphql_batch",
            "graphql",
            "body",
            f"batch of {len(documents)} GraphQL operations is over {limits.max_graphql_batch}",
        )
    for index, document in enumerate(documents[: limits.max_graphql_batch + 1]):
        _check_document(document, f"body.graphql[{index}]", extraction)


def _documents(text: str) -> list[str]:
    try:
        data: Any = orjson.loads(text)
    except orjson.JSONDecodeError:
        return []
    items = data if isinstance(data, list) else [data]
    return [item["query"] for item in items if isinstance(item, dict) and isinstance(item.get("query"), str)]


def _check_document(source: str, location: str, extraction: Extraction) -> None:
    try:
        document = parse(source, no_location=True, max_tokens=20_000)
    except GraphQLError:
        return
    aliases = 0
    depth = 0
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode):
            _check_repeated_mutations(definition, location, extraction)
            definition_depth, definition_aliases = _measure(definition.selection_set, 1)
            depth = max(depth, definition_depth)
            aliases += definition_aliases
    limits = extraction.limits
    if depth > limits.max_graphql_depth:
        extraction.anomaly(
            "graphql_depth",
            "graphql",
            location,
            f"GraphQL selection depth {depth} is over {limits.max_graphql_depth}",
        )
    if aliases > limits.max_graphql_aliases:
        extraction.anomaly(
            "graphql_aliases",
            "graphql",
            location,
            f"{aliases} GraphQL aliases are over {limits.max_graphql_aliases}",
        )


def _check_repeated_mutations(
    definition: OperationDefinitionNode, location: str, extraction: Extraction
) -> None:
    """Report a mutation that runs the same field several times under aliases (brute force in one request)."""
    if definition.operation.value != "mutation":
        return
    counts: dict[str, int] = {}
    for selection in definition.selection_set.selections:
        if isinstance(selection, FieldNode):
            counts[selection.name.value] = counts.get(selection.name.value, 0) + 1
    repeated = [name for name, count in counts.items() if count >= MAX_REPEATED_MUTATION]
    if repeated:
        extraction.anomaly(
            "graphql_repeated_mutation",
            "graphql",
            location,
            f"mutation field {repeated[0]!r} runs {counts[repeated[0]]} times in one document",
        )


def _measure(selection_set: Any, level: int) -> tuple[int, int]:
    if selection_set is None:
        return level - 1, 0
    depth = level
    aliases = 0
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode) and selection.alias is not None:
            aliases += 1
        if isinstance(selection, FieldNode | InlineFragmentNode):
            child_depth, child_aliases = _measure(selection.selection_set, level + 1)
            depth = max(depth, child_depth)
            aliases += child_aliases
        elif isinstance(selection, FragmentSpreadNode):
            depth = max(depth, level)
    return depth, aliases
