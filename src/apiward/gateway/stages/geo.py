"""The ``geo`` stage: allow or deny clients by country, from a MaxMind-format ``.mmdb`` database.

The country is the ``country.iso_code`` of the record for the resolved client address, or the
``registered_country.iso_code`` when the record has no ``country``. The database is opened
once per compiled policy and shared by every route that names the same file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import maxminddb

from apiward.gateway.pipeline import Exchange, Stage, StageContext, Verdict
from apiward.policy.stages.geo import GeoConfig


class GeoDatabaseError(ValueError):
    """The configured .mmdb file is missing or unreadable."""


def open_database(path: Path) -> Any:
    """Open a MaxMind DB; raise GeoDatabaseError naming the file and the cause."""
    try:
        return maxminddb.open_database(str(path))
    except FileNotFoundError:
        raise GeoDatabaseError(
            f"geo database {str(path)!r} not found; set geo.database to an .mmdb file"
        ) from None
    except (OSError, ValueError, maxminddb.InvalidDatabaseError) as error:
        raise GeoDatabaseError(f"geo database {str(path)!r} cannot be read: {error}") from None


class GeoStage(Stage):
    """Deny (403) clients from denied countries, or from any country outside the allow list."""

    name: ClassVar[str] = "geo"

    def __init__(self, config: GeoConfig, reader: Any) -> None:
        self.reader = reader
        self.allow = frozenset(config.allow)
        self.deny = frozenset(config.deny)
        unknown = config.unknown or ("deny" if config.allow else "allow")
        self.deny_unknown = unknown == "deny"

    def country(self, exchange: Exchange) -> str | None:
        try:
            record = self.reader.get(exchange.client_ip)
        except ValueError:
            return None
        if not isinstance(record, dict):
            return None
        for field in ("country", "registered_country"):
            entry = record.get(field)
            if isinstance(entry, dict) and isinstance(entry.get("iso_code"), str):
                return str(entry["iso_code"]).upper()
        return None

    def request_head(self, exchange: Exchange) -> Verdict | None:
        country = self.country(exchange)
        if country is None:
            return _denied("unknown") if self.deny_unknown else None
        if country in self.deny or (self.allow and country not in self.allow):
            return _denied(country)
        return None


def _denied(country: str) -> Verdict:
    return Verdict(
        403, "geo_blocked", "Access from this location is not allowed.", details={"country": country},
    )


def build(config: Any, context: StageContext) -> Stage:
    path = Path(config.database)
    if not path.is_absolute() and context.policy_dir is not None:
        path = Path(context.policy_dir) / path
    key = f"geo:{path.resolve()}"
    reader = context.services.get(key)
    if reader is None:
        reader = open_database(path)
        context.services[key] = reader
    return GeoStage(config, reader)
