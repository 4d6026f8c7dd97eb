"""TikTok accounts: OAuth connect, rotating token refresh, destination listing.

Protocol [DOC oauth-user-access-token-management, platforms.md §4.2]:

- consent page ``{auth_url}/v2/auth/authorize/?client_key&scope&response_type=code&redirect_uri&state``;
- ``POST {api_url}/v2/oauth/token/`` (form encoded) with
  ``grant_type=authorization_code`` or ``grant_type=refresh_token``; access
  tokens last 24 h, refresh tokens 365 days and rotate (the returned one must
  replace the stored one);
- OAuth errors use ``{"error", "error_description", "log_id"}``.

A TikTok account is one destination: ``tiktok:tiktok:<open_id>``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from plugins.errors import ChannelError, PermanentChannelError, ReauthorizationRequired, TransientChannelError
from plugins.types import ConnectedDestination, Credentials, Destination

from .client import OAuthError, client_for
from .settings import TikTokSettings
from .spec import CHANNEL, PROVIDER

SCOPES = ("user.info.basic", "video.upload")
USER_FIELDS = "open_id,union_id,avatar_url,display_name"
PROFILE_FIELDS = ",username"  #: needs the user.info.profile scope
_RETRYABLE_OAUTH = {"server_error", "temporarily_unavailable"}
_REAUTH_OAUTH = {"invalid_grant", "access_denied", "invalid_scope"}


def authorize_url(redirect_uri: str, state: str, settings: Mapping[str, str]) -> str:
    """The consent URL asking for :data:`SCOPES`."""
    config = TikTokSettings.from_mapping(settings)
    query = urlencode({"client_key": config.client_key, "scope": ",".join(SCOPES), "response_type": "code",
                       "redirect_uri": redirect_uri, "state": state})
    return f"{config.auth_url}/v2/auth/authorize/?{query}"


def exchange_code(code: str, redirect_uri: str, settings: Mapping[str, str]) -> Credentials:
    """Trade the callback's ``code`` for credentials."""
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
    return _token_call(form, settings, "the authorization code exchange")


def refresh(credentials: Credentials, settings: Mapping[str, str]) -> Credentials:
    """Fresh credentials from the refresh token; the rotated refresh token replaces the old one.

    :raises ReauthorizationRequired: no refresh token, or TikTok refused it.
    """
    if not credentials.refresh_token:
        raise ReauthorizationRequired("the TikTok account has no refresh token; reconnect it")
    form = {"grant_type": "refresh_token", "refresh_token": credentials.refresh_token}
    return _token_call(form, settings, "the token refresh")


def _token_call(form: dict[str, str], settings: Mapping[str, str], what: str) -> Credentials:
    config = TikTokSettings.from_mapping(settings)
    if not config.client_key or not config.client_secret:
        raise PermanentChannelError("TikTok client key and secret are not configured "
                                    "(MARKAESTRO_TIKTOK_CLIENT_ID, MARKAESTRO_TIKTOK_CLIENT_SECRET)",
                                    code="channel_not_configured")
    full = {"client_key": config.client_key, "client_secret": config.client_secret, **form}
    try:
        body = client_for(config).oauth_token(full, what=what)
    except OAuthError as exc:
        raise _oauth_error(exc, what) from exc
    return credentials_from(body)


def _oauth_error(exc: OAuthError, what: str) -> ChannelError:
    text = f'TikTok refused {what} with "{exc.error}"' + (f" ({exc.description})" if exc.description else "")
    if exc.error in _RETRYABLE_OAUTH or exc.status >= 500:
        return TransientChannelError(f"{text}; retrying later", platform_code=exc.error)
    if exc.error in _REAUTH_OAUTH:
        return ReauthorizationRequired(f"{text}: reconnect the TikTok account", platform_code=exc.error)
    return PermanentChannelError(f"{text}: check the TikTok app's client key, secret and redirect URI",
                                 platform_code=exc.error)


def credentials_from(body: Mapping[str, Any], now: datetime | None = None) -> Credentials:
    """Credentials from a ``/v2/oauth/token/`` answer."""
    now = now or datetime.now(UTC)
    scopes = tuple(s for s in str(body.get("scope", "")).replace(" ", ",").split(",") if s)
    return Credentials(
        access_token=str(body["access_token"]),
        refresh_token=str(body["refresh_token"]) if body.get("refresh_token") else None,
        expires_at=now + timedelta(seconds=int(body.get("expires_in", 86400))),
        refresh_expires_at=now + timedelta(seconds=int(body.get("refresh_expires_in", 365 * 86400))),
        scopes=scopes,
        extra={"open_id": str(body.get("open_id", ""))},
    )


def list_destinations(credentials: Credentials, settings: Mapping[str, str]) -> list[ConnectedDestination]:
    """The one TikTok profile the token grants, named from ``/v2/user/info/``."""
    config = TikTokSettings.from_mapping(settings)
    fields = USER_FIELDS + (PROFILE_FIELDS if "user.info.profile" in credentials.scopes else "")
    data = client_for(config).get_json("/v2/user/info/", credentials.access_token, {"fields": fields},
                                       what="the profile lookup (user/info)")
    user = data.get("user") or {}
    open_id = str(user.get("open_id") or credentials.extra.get("open_id") or "")
    if not open_id:
        return []
    metadata = {k: str(user[k]) for k in ("display_name", "username", "avatar_url", "union_id") if user.get(k)}
    name = f"@{metadata['username']}" if "username" in metadata else metadata.get("display_name", open_id)
    return [ConnectedDestination(Destination(CHANNEL, PROVIDER, open_id, name=name, metadata=metadata))]
