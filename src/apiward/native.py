"""Build status of the hot modules: compiled or not, and which extensions are older than their source.

``scripts/build_compiled.py`` compiles the modules listed in ``scripts/compiled-modules.txt``
with mypyc and puts each extension beside its ``.py`` file, where the import system prefers it.
An extension built before its source last changed runs the old code, so the gateway warns and
the test suite stops when it finds one.
"""

from __future__ import annotations

from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parent


def hot_path_mode() -> str:
    """Return ``"compiled"`` when the proxy module was loaded from an extension, else ``"interpreted"``."""
    from apiward.gateway import proxy

    return "compiled" if str(proxy.__file__).endswith(tuple(EXTENSION_SUFFIXES)) else "interpreted"


def stale_extensions(root: Path = PACKAGE_ROOT) -> list[Path]:
    """Return the extensions under ``root`` whose ``.py`` source changed after they were built."""
    stale = []
    for suffix in EXTENSION_SUFFIXES:
        for extension in root.rglob(f"*{suffix}"):
            source = extension.with_name(extension.name[: -len(suffix)] + ".py")
            if source.is_file() and source.stat().st_mtime > extension.stat().st_mtime:
                stale.append(extension)
    return sorted(stale)
