"""Compile signatures into one hyperscan database, cached on disk between starts.

The cache key is a hash of the patterns plus the hyperscan version, so a changed signature file
or library never loads a stale database. The cache lives in ``$XDG_CACHE_HOME/apiward`` (or
``~/.cache/apiward``); when that is not writable the database is compiled on every start.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

import hyperscan

from apiward.waf.signatures import Signature, SignatureError, fingerprint

log = logging.getLogger("apiward.waf.database")

_BASE_FLAGS = hyperscan.HS_FLAG_UTF8 | hyperscan.HS_FLAG_MULTILINE


def cache_dir() -> Path:
    """Return the directory compiled databases are cached in."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "apiward"


def pattern_flags(signature: Signature) -> int:
    flags = _BASE_FLAGS
    if not signature.case_sensitive:
        flags |= hyperscan.HS_FLAG_CASELESS
    return flags


def compile_database(signatures: list[Signature]) -> hyperscan.Database:
    """Compile ``signatures`` (ids are hyperscan ids) into a block-mode database."""
    database = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    try:
        database.compile(
            expressions=[signature.pattern.encode() for signature in signatures],
            ids=[signature.id for signature in signatures],
            flags=[pattern_flags(signature) for signature in signatures],
        )
    except hyperscan.error as error:
        raise SignatureError(
            f"hyperscan rejected a pattern: {error}; {_find_bad_pattern(signatures)}"
        ) from None
    return database


def _find_bad_pattern(signatures: list[Signature]) -> str:
    for signature in signatures:
        single = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
        try:
            single.compile(
                expressions=[signature.pattern.encode()], ids=[signature.id], flags=[pattern_flags(signature)]
            )
        except hyperscan.error as error:
            return f"signature {signature.id} ({signature.pattern!r}): {error}"
    return "no single pattern fails on its own"


_loaded: dict[Path, bytes] = {}
"""Serialised databases already read or compiled by this process, so routes share the work."""


def load_database(signatures: list[Signature], directory: Path | None = None) -> hyperscan.Database:
    """Load the compiled database for ``signatures`` from the cache, or compile and store it.

    Each call returns its own database object, because a hyperscan scratch space is bound to
    one database and routes run on one thread but must not share mutable scan state.
    """
    directory = directory if directory is not None else cache_dir()
    version = getattr(hyperscan, "__version__", "unknown")
    path = directory / f"waf-{fingerprint(signatures)}-{version}.hsdb"
    data = _loaded.get(path)
    if data is None:
        data = _read_cache(path)
    if data is not None:
        try:
            database = hyperscan.loadb(data, mode=hyperscan.HS_MODE_BLOCK)
            _loaded[path] = data
            return database
        except hyperscan.error as error:
            log.warning("ignoring unusable WAF database cache %s: %s", path, error)
    database = compile_database(signatures)
    data = hyperscan.dumpb(database)
    _loaded[path] = data
    _store(path, data)
    return database


def _read_cache(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as error:
        log.warning("ignoring unreadable WAF database cache %s: %s", path, error)
        return None


def _store(path: Path, data: bytes) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, delete=False, suffix=".tmp") as handle:
            handle.write(data)
        os.replace(handle.name, path)
    except OSError as error:
        log.warning("cannot cache the compiled WAF database in %s: %s", path.parent, error)
