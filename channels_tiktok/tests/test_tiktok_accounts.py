"""OAuth connect, rotating refresh and destination listing against the sandbox."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
import requests
from tiktok_support import Account, Sandbox, video_post

from plugins.errors import PermanentChannelError, ReauthorizationRequired
from plugins.testing import LocalPacer
from plugins.types import Credentials, PublishState

REDIRECT = "https://markaestro.example.com/oauth/tiktok/callback"


def test_refresh_rotates_refresh_token(channels, sandbox: Sandbox, account: Account) -> None:  # type: ignore[no-untyped-def]
    fresh = channels.refresh_credentials("tiktok", destination=account.destination, credentials=account.credentials)
    assert fresh.access_token != account.credentials.access_token
    assert fresh.refresh_token and fresh.refresh_token != account.credentials.refresh_token
    assert fresh.expires_at and fresh.expires_at - datetime.now(UTC) > timedelta(hours=23)
    assert "video.upload" in fresh.scopes
    body = sandbox.state.log[-1].body
    assert body["grant_type"] == "refresh_token" and body["refresh_token"] == account.credentials.refresh_token
    again = channels.refresh_credentials("tiktok", destination=account.destination, credentials=fresh)
    assert again.refresh_token != fresh.refresh_token


def test_spent_refresh_token_needs_reauthorization(channels, account: Account) -> None:  # type: ignore[no-untyped-def]
    channels.refresh_credentials("tiktok", destination=account.destination, credentials=account.credentials)
    with pytest.raises(ReauthorizationRequired, match="invalid_grant"):
        channels.refresh_credentials("tiktok", destination=account.destination, credentials=account.credentials)


def test_no_refresh_token_needs_reauthorization(channels, account: Account) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ReauthorizationRequired):
        channels.refresh_credentials("tiktok", destination=account.destination,
                                     credentials=Credentials(account.credentials.access_token))


def test_wrong_client_secret_is_permanent(make_channels, account: Account) -> None:  # type: ignore[no-untyped-def]
    channels = make_channels(client_secret="wrong")
    with pytest.raises(PermanentChannelError, match="invalid_client"):
        channels.refresh_credentials("tiktok", destination=account.destination, credentials=account.credentials)


def test_token_refresh_mid_run(channels, sandbox: Sandbox, account: Account, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Init with the old token, refresh, finish upload and polling with the rotated one."""
    post, pacer = video_post(tmp_path, 2048), LocalPacer()
    kwargs = {"destination": account.destination, "post": post, "pacer": pacer}
    init = channels.publish_step("tiktok", handle={}, credentials=account.credentials, **kwargs)
    fresh = channels.refresh_credentials("tiktok", destination=account.destination, credentials=account.credentials)
    upload = channels.publish_step("tiktok", handle=init.handle, credentials=fresh, **kwargs)
    handed = channels.poll_publish("tiktok", handle=upload.handle, credentials=fresh, **kwargs)
    assert handed.state == PublishState.HANDED_OFF


def test_oauth_connect_flow(channels, sandbox: Sandbox) -> None:  # type: ignore[no-untyped-def]
    url = channels.oauth_authorize_url("tiktok", provider="tiktok", redirect_uri=REDIRECT, state="st4te")
    query = parse_qs(urlparse(url).query)
    assert url.startswith(f"{sandbox.url}/v2/auth/authorize/?")
    assert query["scope"] == ["user.info.basic,video.upload"] and query["response_type"] == ["code"]
    assert query["client_key"] == ["sbx_client_key"] and query["state"] == ["st4te"]
    consent = requests.get(url, allow_redirects=False, timeout=5)
    callback = parse_qs(urlparse(consent.headers["Location"]).query)
    assert callback["state"] == ["st4te"]
    credentials = channels.oauth_exchange_code("tiktok", provider="tiktok", code=callback["code"][0],
                                               redirect_uri=REDIRECT)
    assert credentials.access_token.startswith("act.") and credentials.refresh_token
    found = channels.list_destinations("tiktok", provider="tiktok", credentials=credentials)
    assert len(found) == 1
    destination = found[0].destination
    assert destination.id == f"tiktok:tiktok:{credentials.extra['open_id']}"
    assert destination.name.startswith("Sandbox Creator")


def test_code_is_single_use(channels, sandbox: Sandbox) -> None:  # type: ignore[no-untyped-def]
    code = sandbox.state.issue_code(None, ("user.info.basic", "video.upload"), REDIRECT)
    channels.oauth_exchange_code("tiktok", provider="tiktok", code=code, redirect_uri=REDIRECT)
    with pytest.raises(ReauthorizationRequired, match="invalid_grant"):
        channels.oauth_exchange_code("tiktok", provider="tiktok", code=code, redirect_uri=REDIRECT)


def test_list_destinations_uses_username_with_profile_scope(channels, sandbox: Sandbox) -> None:  # type: ignore[no-untyped-def]
    scopes = ("user.info.basic", "user.info.profile", "video.upload")
    tokens = sandbox.state.issue_tokens(scopes=scopes)
    found = channels.list_destinations("tiktok", provider="tiktok",
                                       credentials=Credentials(tokens["access_token"], scopes=scopes))
    assert found[0].destination.name.startswith("@sandbox_creator_")
    assert found[0].destination.metadata["username"].startswith("sandbox_creator_")
