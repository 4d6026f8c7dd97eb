"""Markaestro's TikTok channel: inbox handoff of videos and photos.

Hook implementations only; each delegates to the module that owns the
work. See the README for settings, scopes and rules.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from plugins import hookimpl
from plugins.types import (
    ChannelSpec,
    ConnectedDestination,
    Credentials,
    Destination,
    Pacer,
    Post,
    PublishOutcome,
    Sandbox,
    Violation,
)

from . import oauth, publish, status, validation
from .client import client_for
from .settings import TikTokSettings
from .spec import SPEC

__version__ = "0.1.0"


@hookimpl
def register_channels() -> Sequence[ChannelSpec]:
    return [SPEC]


@hookimpl
def register_sandboxes() -> Sequence[Sandbox]:
    from .sandbox import create_app

    return [Sandbox(name="tiktok", settings_env=("MARKAESTRO_TIKTOK_API_URL", "MARKAESTRO_TIKTOK_AUTH_URL"),
                    app=create_app())]


@hookimpl
def validate_post(post: Post) -> Sequence[Violation]:
    return validation.violations(post)


@hookimpl
def publish_step(channel: ChannelSpec, destination: Destination, post: Post, handle: Mapping[str, Any],
                 credentials: Credentials, settings: Mapping[str, str], pacer: Pacer) -> PublishOutcome:
    return publish.publish_step(channel, destination, post, handle, credentials, settings, pacer)


@hookimpl
def poll_publish(channel: ChannelSpec, destination: Destination, handle: Mapping[str, Any],
                 credentials: Credentials, settings: Mapping[str, str], pacer: Pacer) -> PublishOutcome:
    client = client_for(TikTokSettings.from_mapping(settings))
    return status.poll(client, channel, destination, handle, credentials, pacer)


@hookimpl
def reconcile_publish(channel: ChannelSpec, destination: Destination, handle: Mapping[str, Any],
                      credentials: Credentials, settings: Mapping[str, str], pacer: Pacer) -> PublishOutcome | None:
    client = client_for(TikTokSettings.from_mapping(settings))
    return status.reconcile(client, channel, destination, handle, credentials, pacer)


@hookimpl
def list_destinations(credentials: Credentials, settings: Mapping[str, str]) -> Sequence[ConnectedDestination]:
    return oauth.list_destinations(credentials, settings)


@hookimpl
def refresh_credentials(credentials: Credentials, settings: Mapping[str, str]) -> Credentials:
    return oauth.refresh(credentials, settings)


@hookimpl
def oauth_authorize_url(redirect_uri: str, state: str, settings: Mapping[str, str]) -> str:
    return oauth.authorize_url(redirect_uri, state, settings)


@hookimpl
def oauth_exchange_code(code: str, redirect_uri: str, settings: Mapping[str, str]) -> Credentials:
    return oauth.exchange_code(code, redirect_uri, settings)
