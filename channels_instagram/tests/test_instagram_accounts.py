"""OAuth connect, token refresh and destination listing for both logins, over HTTP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from ig_support import IG_USER, Sandbox

from plugins.errors import PermanentChannelError, ReauthorizationRequired
from plugins.manager import Channels
from plugins.types import Credentials, Destination

REDIRECT = "https://markaestro.example/oauth/instagram/callback"
IG_DEST = Destination(channel="instagram", provider="instagram", account_id=IG_USER)


def test_oauth_connect_flow(channels: Channels, sandbox: Sandbox) -> None:
    url = channels.oauth_authorize_url("instagram", provider="instagram", redirect_uri=REDIRECT, state="st_42")
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == f"{sandbox.url}/oauth/authorize"
    assert query == {"client_id": "990001", "redirect_uri": REDIRECT, "response_type": "code", "state": "st_42",
                     "scope": "instagram_business_basic,instagram_business_content_publish", "enable_fb_login": "0"}

    consent = requests.get(url, allow_redirects=False, timeout=5)
    callback = {k: v[0] for k, v in parse_qs(urlsplit(consent.headers["Location"]).query).items()}
    assert callback["state"] == "st_42"

    credentials = channels.oauth_exchange_code("instagram", provider="instagram", code=callback["code"],
                                               redirect_uri=REDIRECT)
    assert credentials.access_token.startswith("IGAA")
    assert credentials.expires_at is not None
    assert timedelta(days=59) < credentials.expires_at - datetime.now(UTC) < timedelta(days=61)
    assert credentials.scopes == ("instagram_business_basic", "instagram_business_content_publish")
    assert sandbox.calls() == ["GET oauth/authorize", "POST oauth/access_token", "GET access_token"]
    [exchange] = sandbox.params("POST oauth/access_token")
    assert exchange == {"client_id": "990001", "client_secret": "sandbox-secret", "code": callback["code"],
                        "grant_type": "authorization_code", "redirect_uri": REDIRECT}
    assert sandbox.params("GET access_token") == [{"grant_type": "ig_exchange_token",
                                                   "client_secret": "sandbox-secret"}]

    [found] = channels.list_destinations("instagram", provider="instagram", credentials=credentials)
    assert found.destination.id == f"instagram:instagram:{IG_USER}"
    assert found.destination.name == "@markaestro_sandbox" and found.credentials is None
    assert sandbox.params("GET me") == [{"fields": "user_id,username,name,profile_picture_url"}]


def test_a_reused_code_is_refused(channels: Channels, sandbox: Sandbox) -> None:
    with pytest.raises(PermanentChannelError) as info:
        channels.oauth_exchange_code("instagram", provider="instagram", code="AQnope", redirect_uri=REDIRECT)
    assert "Invalid authorization code" in str(info.value)


def test_facebook_login_is_the_meta_plugins_flow(channels: Channels) -> None:
    with pytest.raises(PermanentChannelError) as info:
        channels.oauth_authorize_url("instagram", provider="meta", redirect_uri=REDIRECT, state="s")
    assert info.value.code == "unsupported_provider"


def test_refresh_long_lived_token(channels: Channels, sandbox: Sandbox) -> None:
    sandbox.state.add_token("IGAAold", age_s=2 * 86400)
    old = Credentials(access_token="IGAAold", expires_at=datetime.now(UTC) + timedelta(days=58),
                      scopes=("instagram_business_basic",))
    fresh = channels.refresh_credentials("instagram", destination=IG_DEST, credentials=old)
    assert fresh.access_token != "IGAAold" and fresh.scopes == old.scopes
    assert fresh.expires_at is not None and fresh.expires_at - datetime.now(UTC) > timedelta(days=59)
    assert sandbox.calls() == ["GET refresh_access_token"]
    assert sandbox.params("GET refresh_access_token") == [{"grant_type": "ig_refresh_token"}]
    assert sandbox.state.requests[0]["path"] == "/refresh_access_token"


def test_token_younger_than_a_day_is_kept(channels: Channels, sandbox: Sandbox) -> None:
    young = Credentials(access_token="IGAAyoung", expires_at=datetime.now(UTC) + timedelta(days=59, hours=12))
    assert channels.refresh_credentials("instagram", destination=IG_DEST, credentials=young) == young
    assert sandbox.calls() == []


def test_expired_token_needs_reauthorization(channels: Channels, sandbox: Sandbox) -> None:
    expired = Credentials(access_token="IGAAgone", expires_at=datetime.now(UTC) - timedelta(hours=1))
    with pytest.raises(ReauthorizationRequired):
        channels.refresh_credentials("instagram", destination=IG_DEST, credentials=expired)
    assert sandbox.calls() == []


def test_revoked_token_refresh_needs_reauthorization(channels: Channels, sandbox: Sandbox) -> None:
    sandbox.control("tokens", token="IGAArevoked", age_s=3 * 86400, revoked=True)
    revoked = Credentials(access_token="IGAArevoked", expires_at=datetime.now(UTC) + timedelta(days=30))
    with pytest.raises(ReauthorizationRequired) as info:
        channels.refresh_credentials("instagram", destination=IG_DEST, credentials=revoked)
    assert info.value.platform_code == "190/460"


def test_facebook_login_tokens_do_not_refresh(channels: Channels) -> None:
    meta = Destination(channel="instagram", provider="meta", account_id="17841400000000777")
    with pytest.raises(ReauthorizationRequired) as info:
        channels.refresh_credentials("instagram", destination=meta, credentials=Credentials(access_token="EAAG"))
    assert info.value.code == "no_refresh_grant"


def test_meta_user_token_lists_linked_instagram_accounts(channels: Channels, sandbox: Sandbox) -> None:
    sandbox.control("tokens", token="EAAGuser", kind="fb_user")
    sandbox.control("pages", id="104000000000001", name="Acme", token="EAAGpage1", ig_user_id="17841400000000777")
    sandbox.control("pages", id="104000000000002", name="No IG", token="EAAGpage2")

    [found] = channels.list_destinations("instagram", provider="meta", credentials=Credentials(access_token="EAAGuser"))

    assert found.destination.id == "instagram:meta:17841400000000777"
    assert found.credentials == Credentials(access_token="EAAGpage1")
    assert found.destination.metadata["page_id"] == "104000000000001"
    assert sandbox.params("GET me/accounts") == [
        {"fields": "id,name,access_token,instagram_business_account{id,username,name}"}]


def test_meta_page_token_lists_its_instagram_account(channels: Channels, sandbox: Sandbox) -> None:
    sandbox.control("pages", id="104000000000001", name="Acme", token="EAAGpage1", ig_user_id="17841400000000777")
    [found] = channels.list_destinations("instagram", provider="meta",
                                         credentials=Credentials(access_token="EAAGpage1"))
    assert found.destination.id == "instagram:meta:17841400000000777" and found.credentials is None
    assert sandbox.calls() == ["GET me/accounts", "GET me"]


def test_missing_client_credentials(sandbox: Sandbox) -> None:
    import channels_instagram
    from plugins.manager import create_plugin_manager

    bare = Channels(create_plugin_manager(load_entrypoints=False, extra=[channels_instagram]),
                    {"instagram": {"instagram_graph_url": sandbox.url}})
    with pytest.raises(PermanentChannelError) as info:
        bare.oauth_authorize_url("instagram", provider="instagram", redirect_uri=REDIRECT, state="s")
    assert "MARKAESTRO_INSTAGRAM_CLIENT_ID" in str(info.value)


def test_sandbox_is_registered(channels: Channels) -> None:
    [box] = channels.sandboxes()
    assert box.name == "instagram" and "MARKAESTRO_INSTAGRAM_GRAPH_URL" in box.settings_env and callable(box.app)


def test_token_instagram_says_expired_needs_reauthorization(channels: Channels, sandbox: Sandbox) -> None:
    sandbox.state.add_token("IGAAlapsed", age_s=61 * 86400)
    with pytest.raises(ReauthorizationRequired) as info:
        channels.refresh_credentials("instagram", destination=IG_DEST,
                                     credentials=Credentials(access_token="IGAAlapsed"))
    assert info.value.platform_code == "190/463"


def test_refresh_while_instagram_is_down_is_transient(channels: Channels, sandbox: Sandbox) -> None:
    from plugins.errors import TransientChannelError

    sandbox.control("faults", kind="server_error", endpoint="GET refresh_access_token")
    with pytest.raises(TransientChannelError):
        channels.refresh_credentials("instagram", destination=IG_DEST,
                                     credentials=Credentials(access_token="IGAAx"))
