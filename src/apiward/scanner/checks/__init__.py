"""One module per check family; importing this package registers every check."""

from apiward.scanner.checks import (
    authentication,
    configuration,
    flows,
    functions,
    injection,
    inventory,
    objects,
    properties,
    resources,
    ssrf,
)

__all__ = [
    "authentication",
    "configuration",
    "flows",
    "functions",
    "injection",
    "inventory",
    "objects",
    "properties",
    "resources",
    "ssrf",
]
