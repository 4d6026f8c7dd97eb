"""Markaestro channel plugin for Instagram (Instagram Login and Facebook Login).

Hook implementations only; each delegates to the module that owns the work:
:mod:`.spec` (declaration), :mod:`.checks` (validation), :mod:`.publish`
(steps), :mod:`.accounts` (destinations), :mod:`.oauth` (tokens),
:mod:`.sandbox` (the Graph API emulator).
"""

from __future__ import annotations

from collections.abc import Mapping

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

from . import accounts, checks, oauth, publish
from .graph import graph_for
from .spec import SPEC

__version__ = "0.1.0"


@hookimpl
def register_channels() -> list[ChannelSpec]:
    return [SPEC]


@hookimpl
def register_sandboxes() -> list[Sandbox]:
    from .sandbox import sandbox

    return [sandbox()]


@hookimpl
def validate_post(post: Post) -> list[Violation]:
    return checks.violations(post)


def _job(destination: Destination, post: Post, handle: Mapping[str, object], credentials: Credentials,
         settings: Mapping[str, str], pacer: Pacer) -> publish.Job:
    return publish.make_job(destination, post, handle, graph_for(destination, credentials, settings, pacer), pacer)


@hookimpl
def publish_step(destination: Destination, post: Post, handle: Mapping[str, object], credentials: Credentials,
                 settings: Mapping[str, str], pacer: Pacer) -> PublishOutcome:
    return publish.step(_job(destination, post, handle, credentials, settings, pacer))


@hookimpl
def poll_publish(destination: Destination, post: Post, handle: Mapping[str, object], credentials: Credentials,
                 settings: Mapping[str, str], pacer: Pacer) -> PublishOutcome:
    return publish.poll(_job(destination, post, handle, credentials, settings, pacer))


@hookimpl
def reconcile_publish(destination: Destination, post: Post, handle: Mapping[str, object], credentials: Credentials,
                      settings: Mapping[str, str], pacer: Pacer) -> PublishOutcome | None:
    return publish.reconcile(_job(destination, post, handle, credentials, settings, pacer))


@hookimpl
def list_destinations(provider: str, credentials: Credentials,
                      settings: Mapping[str, str]) -> list[ConnectedDestination]:
    return accounts.list_destinations(provider, credentials, settings)


@hookimpl
def refresh_credentials(destination: Destination, credentials: Credentials,
                        settings: Mapping[str, str]) -> Credentials:
    return oauth.refresh(credentials, settings, provider=destination.provider)


@hookimpl
def oauth_authorize_url(provider: str, redirect_uri: str, state: str, settings: Mapping[str, str]) -> str:
    return oauth.authorize_url(provider, redirect_uri, state, settings)


@hookimpl
def oauth_exchange_code(provider: str, code: str, redirect_uri: str, settings: Mapping[str, str]) -> Credentials:
    return oauth.exchange_code(provider, code, redirect_uri, settings)
