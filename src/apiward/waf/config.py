"""Build an engine from a route's ``waf:`` policy block."""

from __future__ import annotations

from pathlib import Path

from apiward.policy.stages.waf import WafConfig
from apiward.waf.engine import Engine, Exclusion, Settings
from apiward.waf.fields import Limits
from apiward.waf.openapi import ApiSchema
from apiward.waf.signatures import Signature


def settings_from_config(config: WafConfig, *, skip_headers: frozenset[str] = frozenset()) -> Settings:
    """Translate the policy block into engine settings."""
    limits = Limits(
        max_body_bytes=config.request_body_limit,
        max_fields=config.max_fields,
        max_depth=config.max_depth,
        max_graphql_depth=config.max_graphql_depth,
        max_graphql_aliases=config.max_graphql_aliases,
        max_graphql_batch=config.max_graphql_batch,
    )
    exclusions = tuple(
        Exclusion(frozenset(item.rules), frozenset(item.classes), tuple(item.fields))
        for item in config.exclusions
    )
    return Settings(
        paranoia=config.paranoia,
        threshold=config.threshold,
        limits=limits,
        on_limit=config.on_limit,
        exclusions=exclusions,
        skip_headers=skip_headers,
    )


def custom_signatures(config: WafConfig) -> list[Signature]:
    """Return the policy's custom rules as signatures, compiled beside the built-in ones."""
    return [
        Signature(
            id=rule.id,
            attack_class=rule.attack_class,
            category=rule.category,
            paranoia=rule.paranoia,
            score=rule.score,
            description=rule.description or f"custom rule {rule.id}",
            pattern=rule.pattern,
        )
        for rule in config.rules
    ]


def engine_from_config(
    config: WafConfig, *, skip_headers: frozenset[str] = frozenset(), schema: ApiSchema | None = None
) -> Engine:
    """Build the engine for one route; the compiled database is shared and cached.

    ``skip_headers`` names headers the caller sets itself (a gateway's forwarding headers).
    ``schema`` is the route's compiled OpenAPI document, loaded by the caller from ``config.openapi``.
    """
    return Engine(
        settings_from_config(config, skip_headers=skip_headers),
        custom=custom_signatures(config),
        schema=schema,
    )


def schema_path(config: WafConfig, policy_dir: Path | None) -> Path | None:
    """Return the path of the route's OpenAPI document, relative names read from ``policy_dir``."""
    if config.openapi is None:
        return None
    path = Path(config.openapi)
    if not path.is_absolute() and policy_dir is not None:
        path = policy_dir / path
    return path
