"""Build the channel plugins for an app or worker from its configuration."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from flask import Flask, current_app

from plugins.manager import Channels, create_plugin_manager
from plugins.types import ChannelSpec


def _split(value: object) -> list[str]:
    return [part.strip() for part in str(value or "").split(",") if part.strip()]


def resolve_settings(specs: Mapping[str, ChannelSpec], config: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """Each channel's settings, keyed by ``SettingSpec.key``, from config (env) or defaults."""
    resolved: dict[str, dict[str, str]] = {}
    for name, spec in specs.items():
        values = {}
        for setting in spec.settings:
            value = config.get(setting.env, setting.default)
            if value is not None:
                values[setting.key] = str(value)
        resolved[name] = values
    return resolved


def build_channels(config: Mapping[str, Any], extra: tuple[object, ...] = ()) -> Channels:
    """The plugin manager and facade the configuration asks for.

    ``MARKAESTRO_LOAD_PLUGINS`` turns entry-point discovery on or off,
    ``MARKAESTRO_DISABLED_CHANNELS`` blocks entry-point names and
    ``MARKAESTRO_EXTRA_PLUGINS`` imports and registers plugin modules by name.
    """
    modules = tuple(importlib.import_module(name) for name in _split(config.get("MARKAESTRO_EXTRA_PLUGINS")))
    pm = create_plugin_manager(
        load_entrypoints=bool(config.get("MARKAESTRO_LOAD_PLUGINS", True)),
        blocked=_split(config.get("MARKAESTRO_DISABLED_CHANNELS")),
        extra=modules + extra,
    )
    specs = Channels(pm).specs
    return Channels(pm, settings=resolve_settings(specs, config))


def init_app(app: Flask, extra: tuple[object, ...] = ()) -> None:
    app.extensions["markaestro.channels"] = build_channels(app.config, extra)


def current_channels() -> Channels:
    channels: Channels = current_app.extensions["markaestro.channels"]
    return channels
