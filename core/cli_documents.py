"""The JSON documents the admin CLI prints (one place, so output stays stable)."""

from __future__ import annotations

from importlib import metadata
from typing import Any

from plugins import PROJECT_NAME
from plugins.manager import Channels

from .models import ApiKey, Product, Workspace
from .services.api_keys import CreatedKey
from .services.rules import public_rules
from .timeutil import format_timestamp

REDACTED = "********"


def workspace_document(row: Workspace) -> dict[str, Any]:
    return {"id": row.id, "name": row.name, "createdAt": format_timestamp(row.created_at)}


def created_key_document(key: CreatedKey) -> dict[str, Any]:
    """The new key, shown this once (only its hash is stored)."""
    return {"id": key.id, "key": key.key, "workspaceId": key.workspace_id, "name": key.name}


def revoked_key_document(row: ApiKey) -> dict[str, Any]:
    return {"id": row.id, "workspaceId": row.workspace_id, "name": row.name,
            "revokedAt": format_timestamp(row.revoked_at)}


def product_document(row: Product, channels: list[str]) -> dict[str, Any]:
    return {"id": row.id, "workspaceId": row.workspace_id, "name": row.name, "channels": channels,
            "createdAt": format_timestamp(row.created_at)}


def plugin_documents(channels: Channels) -> list[dict[str, Any]]:
    """Every installed channel: its distribution, version, delivery, rules and settings."""
    return [_plugin_document(channels, name) for name in sorted(channels.specs)]


def _plugin_document(channels: Channels, name: str) -> dict[str, Any]:
    spec = channels.spec(name)
    distribution = distribution_of(channels.owner_name(name))
    values = channels.settings_for(name)
    settings = [{
        "key": s.key, "env": s.env, "secret": s.secret, "description": s.description,
        "value": (REDACTED if s.secret and values.get(s.key) else values.get(s.key)),
    } for s in spec.settings]
    return {
        "name": spec.name,
        "title": spec.title,
        "plugin": channels.owner_name(name),
        "distribution": distribution,
        "version": channels.owner_version(name) or _version(distribution),
        "delivery": spec.delivery.value,
        "providers": list(spec.providers),
        "capabilities": sorted(c.value for c in spec.capabilities),
        "rules": public_rules(spec),
        "settings": settings,
    }


def distribution_of(plugin_name: str) -> str | None:
    """The distribution that ships the plugin registered as ``plugin_name``.

    Entry-point plugins are registered under their entry-point name; plugins
    given by module name are registered under the module's dotted name.
    """
    for entry_point in metadata.entry_points(group=PROJECT_NAME):
        if entry_point.name == plugin_name and entry_point.dist is not None:
            return str(entry_point.dist.name)
    top_level = plugin_name.split(".")[0]
    names = metadata.packages_distributions().get(top_level) or []
    return names[0] if names else None


def _version(distribution: str | None) -> str | None:
    try:
        return metadata.version(distribution) if distribution else None
    except metadata.PackageNotFoundError:
        return None
