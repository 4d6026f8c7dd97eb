"""Instagram Login tokens: authorize URL, code exchange, long-lived exchange and refresh.

Reference §2.1 ("Instagram Login token lifecycle"):

1. ``https://www.instagram.com/oauth/authorize?client_id&redirect_uri&response_type=code&scope&state``;
2. ``POST https://api.instagram.com/oauth/access_token`` (form) -> short-lived token (1 h);
3. ``GET https://graph.instagram.com/access_token?grant_type=ig_exchange_token`` -> 60-day token;
4. ``GET https://graph.instagram.com/refresh_access_token?grant_type=ig_refresh_token`` -> 60 more days;
   the token must be at least 24 hours old and unexpired.

Facebook Login (provider ``meta``) is connected through the Meta plugin's flow:
those tokens have no refresh grant (a Page token does not expire).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from plugins.errors import ChannelError, PermanentChannelError, ReauthorizationRequired, TransientChannelError
from plugins.types import Credentials

from .graph import decode, send
from .spec import PROVIDER_INSTAGRAM, setting

LONG_LIVED = timedelta(days=60)
MIN_AGE = timedelta(hours=24)  #: a token younger than this cannot be refreshed yet


def _require_instagram_login(provider: str) -> None:
    if provider != PROVIDER_INSTAGRAM:
        raise PermanentChannelError(f"Instagram accounts on provider {provider!r} are connected through the Meta "
                                    "plugin's Facebook Login flow", code="unsupported_provider")


def _client(settings: Mapping[str, str]) -> tuple[str, str]:
    client_id, secret = setting(settings, "client_id"), setting(settings, "client_secret")
    if not client_id or not secret:
        raise PermanentChannelError("MARKAESTRO_INSTAGRAM_CLIENT_ID and MARKAESTRO_INSTAGRAM_CLIENT_SECRET must be "
                                    "set for Instagram Login", code="client_not_configured")
    return client_id, secret


def authorize_url(provider: str, redirect_uri: str, state: str, settings: Mapping[str, str]) -> str:
    """The consent-screen URL for Instagram Login with the configured scopes."""
    _require_instagram_login(provider)
    client_id, _secret = _client(settings)
    query = urlencode({"client_id": client_id, "redirect_uri": redirect_uri, "response_type": "code",
                       "scope": setting(settings, "oauth_scopes"), "state": state, "enable_fb_login": "0"})
    return f"{setting(settings, 'instagram_oauth_url').rstrip('/')}/oauth/authorize?{query}"


def exchange_code(provider: str, code: str, redirect_uri: str, settings: Mapping[str, str]) -> Credentials:
    """Code -> short-lived token -> long-lived (60-day) credentials."""
    _require_instagram_login(provider)
    client_id, secret = _client(settings)
    form = {"client_id": client_id, "client_secret": secret, "grant_type": "authorization_code",
            "redirect_uri": redirect_uri, "code": code}
    url = f"{setting(settings, 'instagram_api_url').rstrip('/')}/oauth/access_token"
    body = _unwrap(decode(send("POST", url, data=form, creating=False, timeout_s=_timeout(settings))).body)
    permissions = body.get("permissions") or []
    scopes = tuple(permissions.split(",") if isinstance(permissions, str) else permissions)
    long_lived = _graph_token(settings, "access_token",
                              {"grant_type": "ig_exchange_token", "client_secret": secret,
                               "access_token": body["access_token"]})
    return _credentials(long_lived, scopes, {"user_id": str(body.get("user_id", ""))})


def _unwrap(body: dict[str, Any]) -> dict[str, Any]:
    """The code-exchange answer comes as ``{"data": [{...}]}`` or flat."""
    data = body.get("data")
    return dict(data[0]) if isinstance(data, list) and data else body


def refresh(credentials: Credentials, settings: Mapping[str, str], *, provider: str) -> Credentials:
    """Fresh 60-day credentials for an Instagram Login token (unchanged while under 24 h old)."""
    if provider != PROVIDER_INSTAGRAM:
        raise ReauthorizationRequired("Facebook Login tokens for Instagram have no refresh grant; reconnect the "
                                      "Facebook account through the Meta plugin", code="no_refresh_grant")
    now = datetime.now(UTC)
    if credentials.expires_at is not None and credentials.expires_at <= now:
        raise ReauthorizationRequired("the Instagram token expired and cannot be refreshed; reconnect the account",
                                      code="token_expired")
    if credentials.expires_at is not None and credentials.expires_at - now > LONG_LIVED - MIN_AGE:
        return credentials
    try:
        body = _graph_token(settings, "refresh_access_token",
                            {"grant_type": "ig_refresh_token", "access_token": credentials.access_token})
    except TransientChannelError:
        raise
    except ChannelError as exc:
        raise ReauthorizationRequired(f"Instagram refused to refresh the token; reconnect the account ({exc})",
                                      platform_code=exc.platform_code) from exc
    return _credentials(body, credentials.scopes, credentials.extra)


def _graph_token(settings: Mapping[str, str], path: str, params: dict[str, str]) -> dict[str, Any]:
    url = f"{setting(settings, 'instagram_graph_url').rstrip('/')}/{path}"
    return decode(send("GET", url, params=params, creating=False, timeout_s=_timeout(settings))).body


def _credentials(body: Mapping[str, Any], scopes: tuple[str, ...], extra: Mapping[str, str]) -> Credentials:
    expires_in = body.get("expires_in")
    expires_at = datetime.now(UTC) + timedelta(seconds=int(expires_in)) if expires_in else None
    return Credentials(access_token=str(body["access_token"]), expires_at=expires_at, scopes=scopes,
                       extra=dict(extra))


def _timeout(settings: Mapping[str, str]) -> float:
    return float(setting(settings, "timeout_s") or 30)
