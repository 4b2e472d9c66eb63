"""Read a policy file into :class:`~apiward.policy.model.Policy` with errors that name the line.

Every error names the file, the line and the field path, states what is wrong and, where it can,
what would be valid::

    gateway.yaml:14 routes[2].upstream: unknown upstream 'shpo'; known: shop
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from apiward.policy.model import Policy, PolicyReferenceError, reference_problems

Location = tuple[str | int, ...]


@dataclass(frozen=True)
class PolicyProblem:
    """One thing wrong in a policy file."""

    file: str
    line: int | None
    location: Location
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        field = format_location(self.location)
        return f"{where} {field}: {self.message}" if field else f"{where}: {self.message}"


class PolicyError(Exception):
    """The policy file cannot be used; ``problems`` lists every error found."""

    def __init__(self, problems: Sequence[PolicyProblem]) -> None:
        super().__init__("\n".join(str(problem) for problem in problems))
        self.problems = list(problems)


def format_location(location: Location) -> str:
    """Format a field path the way a reader writes it: ``routes[2].match.path``."""
    text = ""
    for part in location:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


class _StrictLoader(yaml.SafeLoader):
    """A safe YAML loader that rejects duplicate mapping keys instead of keeping the last one."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None,
                f"duplicate key {key!r} (first defined on line {seen[key] + 1})",
                key_node.start_mark,
            )
        seen[key] = key_node.start_mark.line
    return loader.construct_mapping(node)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _node_lines(node: yaml.Node, location: Location = ()) -> Iterator[tuple[Location, int]]:
    yield location, node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            yield (*location, key), key_node.start_mark.line + 1
            for sub_location, line in _node_lines(value_node, (*location, key)):
                if sub_location != (*location, key):
                    yield sub_location, line
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            yield from _node_lines(item, (*location, index))


def _line_of(lines: dict[Location, int], location: Location) -> int | None:
    """Return the line of the deepest part of ``location`` that exists in the file."""
    for end in range(len(location), -1, -1):
        line = lines.get(tuple(location[:end]))
        if line is not None:
            return line
    return None


def _problems_from_validation(
    error: ValidationError, file: str, lines: dict[Location, int]
) -> list[PolicyProblem]:
    problems = []
    for item in error.errors(include_url=False):
        location = tuple(part for part in item["loc"] if not _is_union_tag(part))
        message = item["msg"]
        cause = (item.get("ctx") or {}).get("error")
        if isinstance(cause, PolicyReferenceError):
            continue  # reported from the raw data by _raw_reference_problems
        if message.startswith("Value error, "):
            message = message.removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = f"unknown field {location[-1]!r}" + _known_fields_hint(location)
        elif item["type"] == "missing":
            message = "required field is missing"
        problems.append(PolicyProblem(file, _line_of(lines, location), location, message))
    return problems


def _is_union_tag(part: object) -> bool:
    # pydantic inserts the member type name (e.g. "IPv4Network") into locations inside unions.
    return isinstance(part, str) and (part[:1].isupper() or "[" in part)


def _known_fields_hint(location: Location) -> str:
    model: Any = Policy
    for part in location[:-1]:
        if isinstance(part, int) or model is None:
            continue
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            return ""
        model = _model_of(field.annotation)
    if model is None or not hasattr(model, "model_fields"):
        return ""
    return "; known: " + ", ".join(sorted(model.model_fields))


def _model_of(annotation: Any) -> Any:
    """Find the pydantic model inside an annotation such as ``list[Route]`` or ``X | None``."""
    if hasattr(annotation, "model_fields"):
        return annotation
    for argument in getattr(annotation, "__args__", ()):
        found = _model_of(argument)
        if found is not None:
            return found
    return None


def parse_policy(text: str, file: str = "<policy>") -> Policy:
    """Parse and validate policy text; raise :class:`PolicyError` listing every problem."""
    try:
        node = yaml.compose(text, Loader=_StrictLoader)
        data = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark else None
        problem = f"{error.problem or 'invalid YAML'}" + (f" {error.context}" if error.context else "")
        raise PolicyError([PolicyProblem(file, line, (), f"invalid YAML: {problem}")]) from None
    except yaml.YAMLError as error:
        raise PolicyError([PolicyProblem(file, None, (), f"invalid YAML: {error}")]) from None
    if not isinstance(data, dict):
        kind = "empty" if data is None else f"a {type(data).__name__}"
        raise PolicyError([PolicyProblem(file, 1, (), f"expected a mapping at the top, got {kind}")])
    lines = dict(_node_lines(node)) if node is not None else {}
    references = [
        PolicyProblem(file, _line_of(lines, location), location, message)
        for location, message in _raw_reference_problems(data)
    ]
    try:
        policy = Policy.model_validate(data)
    except ValidationError as error:
        problems = _problems_from_validation(error, file, lines) + references
        problems.sort(key=lambda problem: problem.line or 0)
        raise PolicyError(problems) from None
    if references:  # only reachable when the model's own check is bypassed
        raise PolicyError(references)
    return policy


def _raw_reference_problems(data: dict[Any, Any]) -> list[tuple[Location, str]]:
    """Check route-to-upstream references and route names on the YAML data before validation."""
    upstreams = data.get("upstreams")
    routes = data.get("routes")
    if not isinstance(upstreams, dict) or not isinstance(routes, list):
        return []
    pairs = [
        (route.get("name"), route.get("upstream")) if isinstance(route, dict) else (None, None)
        for route in routes
    ]
    return reference_problems([str(name) for name in upstreams], pairs)


def load_policy(path: str | Path) -> Policy:
    """Read and validate a policy file; raise :class:`PolicyError` with file and line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        problem = PolicyProblem(str(path), None, (), f"cannot read file: {error.strerror}")
        raise PolicyError([problem]) from None
    except UnicodeDecodeError:
        raise PolicyError([PolicyProblem(str(path), None, (), "file is not valid UTF-8")]) from None
    return parse_policy(text, path.name)
