"""The manifest of lab holes (``holes.yaml``) and the set of holes one app instance leaves open."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from functools import cache
from importlib import resources

import yaml

MANIFEST_FILE = "holes.yaml"


@dataclass(frozen=True, slots=True)
class Hole:
    """One deliberate flaw of the lab API, as described in ``holes.yaml``."""

    id: str
    category: str
    check: str
    method: str
    path: str
    description: str
    lesson: str
    also: tuple[str, ...] = ()
    """Further ``METHOD /path`` locations served by the same flawed code (PATCH beside PUT)."""


@cache
def load_holes() -> tuple[Hole, ...]:
    """Read ``holes.yaml`` from the package; the result is cached because the file never changes."""
    text = resources.files("apiward.lab").joinpath(MANIFEST_FILE).read_text(encoding="utf-8")
    document = yaml.safe_load(text)
    holes = []
    for entry in document["holes"]:
        fields = {key: str(value) for key, value in entry.items() if key != "also"}
        holes.append(Hole(**fields, also=tuple(str(item) for item in entry.get("also", ()))))
    return tuple(holes)


def hole_ids() -> tuple[str, ...]:
    """Return every hole id in manifest order."""
    return tuple(hole.id for hole in load_holes())


def read_lesson(hole: Hole) -> str:
    """Return the Markdown lesson of ``hole``."""
    return resources.files("apiward.lab").joinpath("lessons", hole.lesson).read_text(encoding="utf-8")


class HoleSet:
    """The set of holes an app instance leaves open.

    ``fixed=False`` opens every hole, ``fixed=True`` closes every hole, and a collection of ids
    closes just those. An unknown id raises ValueError, so a typo never leaves a hole open unnoticed.
    """

    def __init__(self, fixed: bool | Collection[str] = False) -> None:
        known = hole_ids()
        if fixed is True:
            closed = frozenset(known)
        elif fixed is False:
            closed = frozenset()
        else:
            if isinstance(fixed, str):
                raise TypeError("fixed must be a bool or a collection of hole ids, not a single string")
            closed = frozenset(fixed)
            unknown = sorted(closed - set(known))
            if unknown:
                raise ValueError(f"unknown hole ids {unknown}; valid ids: {', '.join(known)}")
        self.closed = closed

    def is_open(self, hole_id: str) -> bool:
        """Return True when ``hole_id`` is left open; raise KeyError for an id not in the manifest."""
        if hole_id not in hole_ids():
            raise KeyError(f"unknown hole id {hole_id!r}")
        return hole_id not in self.closed

    def open_ids(self) -> list[str]:
        """Return the open hole ids in manifest order."""
        return [hole_id for hole_id in hole_ids() if hole_id not in self.closed]
