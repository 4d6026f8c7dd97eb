"""OAuth connect: POST /products/{id}/connections, the browser callback, against the plugins' sandboxes over HTTP.

The installed TikTok and Instagram plugins are loaded from their entry points
and pointed at their sandboxes, each served by werkzeug on a free port. The
sandboxes consent at once: following ``authorizeUrl`` answers a redirect to
our callback carrying ``code`` and ``state``, which the test then calls.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import sqlalchemy as sa
from channels_instagram.sandbox import SandboxConfig as InstagramConfig
from channels_instagram.sandbox import SandboxState as InstagramState
from channels_instagram.sandbox import create_app as instagram_app
from channels_tiktok.sandbox import SandboxConfig as TikTokConfig
from channels_tiktok.sandbox import create_app as tiktok_app
from click.testing import CliRunner
from flask import Flask

from core import create_app
from core.cli import cli
from core.db import session_scope
from core.models import Destination
from core.services import oauth_connect
from core.services.credentials import unseal
from core.timeutil import utcnow
from plugins.testing import fake_channel
from tests.conftest import Tenant, count_rows
from tests.services import LoopbackServer

API = "/api/public/v1"
PUBLIC_URL = "http://markaestro.test"
TIKTOK_KEY, TIKTOK_SECRET = "oauth_client_key", "oauth_client_secret"
IG_USER = "17841400000000001"


@dataclass
class Sandboxes:
    tiktok: str
    instagram: str


@pytest.fixture
def sandboxes() -> Iterator[Sandboxes]:
    tiktok = LoopbackServer(tiktok_app(TikTokConfig(processing_delay_s=0.0, client_key=TIKTOK_KEY,
                                            client_secret=TIKTOK_SECRET)))
    instagram = LoopbackServer(instagram_app(InstagramState(InstagramConfig())))
    yield Sandboxes(tiktok.url, instagram.url)
    tiktok.close()
    instagram.close()


@pytest.fixture
def app(app_config: dict[str, Any], sandboxes: Sandboxes) -> Iterator[Flask]:
    """The app with the installed plugins, their settings pointing at the sandboxes."""
    config = {
        **app_config,
        "MARKAESTRO_LOAD_PLUGINS": True,
        "MARKAESTRO_PUBLIC_URL": PUBLIC_URL,
        "MARKAESTRO_TIKTOK_API_URL": sandboxes.tiktok, "MARKAESTRO_TIKTOK_AUTH_URL": sandboxes.tiktok,
        "MARKAESTRO_TIKTOK_CLIENT_ID": TIKTOK_KEY, "MARKAESTRO_TIKTOK_CLIENT_SECRET": TIKTOK_SECRET,
        "MARKAESTRO_TIKTOK_TIMEOUT_SECONDS": "5",
        "MARKAESTRO_INSTAGRAM_GRAPH_URL": sandboxes.instagram, "MARKAESTRO_INSTAGRAM_API_URL": sandboxes.instagram,
        "MARKAESTRO_INSTAGRAM_OAUTH_URL": sandboxes.instagram, "MARKAESTRO_META_GRAPH_URL": sandboxes.instagram,
        "MARKAESTRO_INSTAGRAM_CLIENT_ID": "990001", "MARKAESTRO_INSTAGRAM_CLIENT_SECRET": "sandbox-secret",
        "MARKAESTRO_INSTAGRAM_TIMEOUT_SECONDS": "5",
    }
    application = create_app(config, plugins=(fake_channel,))
    assert {"tiktok", "instagram"} <= set(application.extensions["markaestro.channels"].specs)
    yield application
    application.extensions["markaestro.engine"].dispose()


def start(client: Any, tenant: Tenant, channel: str, **extra: str) -> Any:
    return client.post(f"{API}/products/{tenant.product_id}/connections", json={"channel": channel, **extra},
                       headers=tenant.headers)


def consent(authorize_url: str) -> dict[str, str]:
    """Follow the authorize URL to the sandbox's consent step; the callback query it redirects to."""
    answer = requests.get(authorize_url, allow_redirects=False, timeout=5)
    assert answer.status_code == 302
    location = urlsplit(answer.headers["Location"])
    return {"path": location.path, **{k: v[0] for k, v in parse_qs(location.query).items()}}


def connect(client: Any, tenant: Tenant, channel: str) -> Any:
    """The whole flow: start, consent, callback; the callback's response."""
    started = start(client, tenant, channel)
    assert started.status_code == 201, started.get_json()
    back = consent(started.get_json()["authorizeUrl"])
    return client.get(back.pop("path"), query_string=back)


def destination_rows(sessions: Any) -> list[Destination]:
    with session_scope(sessions) as session:
        return list(session.scalars(sa.select(Destination)))


def problem_code(response: Any, status: int) -> str:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    return str(response.get_json()["code"])


# -- starting a connection ------------------------------------------------------------


def test_start_answers_a_consent_url_with_a_bound_state(client, app, tenant, sandboxes):
    response = start(client, tenant, "tiktok")
    assert response.status_code == 201
    body = response.get_json()
    assert set(body) == {"authorizeUrl", "state", "expiresAt", "redirectUri"}
    assert body["redirectUri"] == f"{PUBLIC_URL}/oauth/callback/tiktok"
    url = urlsplit(body["authorizeUrl"])
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert f"{url.scheme}://{url.netloc}{url.path}" == f"{sandboxes.tiktok}/v2/auth/authorize/"
    assert query["state"] == body["state"] and query["redirect_uri"] == body["redirectUri"]
    claims = oauth_connect.read_state(app.config["MARKAESTRO_SECRET_KEY"], body["state"])
    assert (claims.workspace_id, claims.product_id, claims.channel, claims.provider) == (
        tenant.workspace_id, tenant.product_id, "tiktok", "tiktok")
    assert timedelta(minutes=9) < claims.expires_at - utcnow() <= oauth_connect.STATE_TTL


def test_each_start_gets_a_different_state(client, tenant):
    first, second = (start(client, tenant, "instagram").get_json()["state"] for _ in range(2))
    assert first != second


def test_channel_without_oauth_connect_is_422_naming_those_with_it(client, tenant):
    response = start(client, tenant, "fake")
    assert problem_code(response, 422) == "oauth_connect_unsupported"
    assert "instagram, tiktok" in response.get_json()["detail"]


def test_uninstalled_channel_is_422(client, tenant):
    response = start(client, tenant, "myspace")
    assert problem_code(response, 422) == "channel_not_installed"
    assert "instagram, tiktok" in response.get_json()["detail"]


def test_provider_the_plugin_cannot_connect_is_422(client, tenant):
    assert problem_code(start(client, tenant, "tiktok", provider="meta"), 422) == "unknown_provider"
    response = start(client, tenant, "instagram", provider="meta")
    assert problem_code(response, 422) == "oauth_connect_unavailable"
    assert "Meta plugin" in response.get_json()["detail"]


def test_another_workspaces_product_is_404(client, tenant, other_tenant):
    response = client.post(f"{API}/products/{other_tenant.product_id}/connections", json={"channel": "tiktok"},
                           headers=tenant.headers)
    assert problem_code(response, 404) == "not_found"


def test_start_needs_an_api_key(client, tenant):
    response = client.post(f"{API}/products/{tenant.product_id}/connections", json={"channel": "tiktok"})
    assert problem_code(response, 401) == "unauthorized"


def test_start_is_idempotent(client, tenant):
    headers = {**tenant.headers, "Idempotency-Key": "connect-1"}
    url = f"{API}/products/{tenant.product_id}/connections"
    first = client.post(url, json={"channel": "tiktok"}, headers=headers)
    again = client.post(url, json={"channel": "tiktok"}, headers=headers)
    assert again.status_code == 201 and again.headers.get("Idempotent-Replayed") == "true"
    assert again.get_data() == first.get_data()


# -- the full flow -----------------------------------------------------------------------


def test_tiktok_flow_creates_a_connected_destination_with_sealed_tokens(client, app, tenant, sessions):
    response = connect(client, tenant, "tiktok")
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    [document] = body["destinations"]
    assert body["productId"] == tenant.product_id
    assert document["id"].startswith("tiktok:tiktok:") and document["status"] == "connected"
    assert document["delivery"] == "inbox_handoff"
    [row] = destination_rows(sessions)
    assert row.public_id == document["id"] and row.product_id == tenant.product_id
    assert row.workspace_id == tenant.workspace_id
    credentials = unseal(app.config["MARKAESTRO_SECRET_KEY"], row.id, row.credentials)
    assert credentials.access_token and credentials.refresh_token
    assert credentials.access_token not in row.credentials and credentials.refresh_token not in row.credentials
    assert row.token_expires_at is not None
    listed = client.get(f"{API}/products/{tenant.product_id}/destinations", headers=tenant.headers).get_json()
    assert listed["data"] == [document]


def test_instagram_flow_creates_an_instagram_login_destination(client, app, tenant, sessions):
    response = connect(client, tenant, "instagram")
    assert response.status_code == 200, response.get_json()
    [document] = response.get_json()["destinations"]
    assert document["id"] == f"instagram:instagram:{IG_USER}"
    assert (document["name"], document["status"], document["fanOut"]) == ("@markaestro_sandbox", "connected", [])
    [row] = destination_rows(sessions)
    credentials = unseal(app.config["MARKAESTRO_SECRET_KEY"], row.id, row.credentials)
    assert credentials.access_token.startswith("IGAA") and credentials.access_token not in row.credentials
    listed = client.get(f"{API}/products/{tenant.product_id}/destinations", headers=tenant.headers).get_json()
    assert [d["id"] for d in listed["data"]] == [document["id"]]
    product = client.get(f"{API}/products/{tenant.product_id}", headers=tenant.headers).get_json()
    assert product["channels"] == ["instagram"]


def test_connecting_again_reconnects_the_same_destination(client, app, tenant, sessions):
    connect(client, tenant, "instagram")
    [first] = destination_rows(sessions)
    with session_scope(sessions) as session:
        session.execute(sa.update(Destination).values(status="needs_reauth"))
        session.commit()
    assert connect(client, tenant, "instagram").status_code == 200
    [again] = destination_rows(sessions)
    assert again.id == first.id and again.status == "connected"
    assert again.credentials != first.credentials


def test_browser_asking_for_html_gets_a_page(client, tenant):
    started = start(client, tenant, "instagram").get_json()
    back = consent(started["authorizeUrl"])
    response = client.get(back.pop("path"), query_string=back, headers={"Accept": "text/html"})
    assert response.status_code == 200 and response.mimetype == "text/html"
    assert f"instagram:instagram:{IG_USER}" in response.get_data(as_text=True)


# -- refused callbacks: nothing is created -------------------------------------------------


def test_a_state_works_once(client, tenant, sessions):
    started = start(client, tenant, "tiktok").get_json()
    back = consent(started["authorizeUrl"])
    path = back.pop("path")
    assert client.get(path, query_string=back).status_code == 200
    replay = client.get(path, query_string={**back, "code": consent(started["authorizeUrl"])["code"]})
    assert problem_code(replay, 400) == "state_used"
    assert count_rows(sessions, Destination) == 1


def test_expired_state_is_400(client, app, tenant, sessions):
    started = start(client, tenant, "tiktok").get_json()
    code = consent(started["authorizeUrl"])["code"]
    claims = oauth_connect.StateClaims("expired-state-id", tenant.workspace_id, tenant.product_id, "tiktok", "tiktok",
                                       utcnow() - timedelta(seconds=1))
    expired = oauth_connect.sign_state(app.config["MARKAESTRO_SECRET_KEY"], claims)
    response = client.get("/oauth/callback/tiktok", query_string={"code": code, "state": expired})
    assert problem_code(response, 400) == "expired_state"
    assert count_rows(sessions, Destination) == 0


@pytest.mark.parametrize("state", ["", "garbage", "a.b", "e30.AAAA"])
def test_missing_or_malformed_state_is_400(client, sessions, state):
    response = client.get("/oauth/callback/tiktok", query_string={"code": "x", "state": state})
    assert problem_code(response, 400) == "invalid_state"
    assert count_rows(sessions, Destination) == 0


def test_altered_state_is_refused(client, app, tenant, other_tenant, sessions):
    """Rewriting the claims to another workspace's product breaks the signature."""
    started = start(client, other_tenant, "tiktok").get_json()
    back = consent(started["authorizeUrl"])
    theirs = oauth_connect.read_state(app.config["MARKAESTRO_SECRET_KEY"], back["state"])
    ours = oauth_connect.StateClaims(theirs.state_id, tenant.workspace_id, tenant.product_id, "tiktok", "tiktok",
                                     theirs.expires_at)
    forged_payload = oauth_connect.sign_state(app.config["MARKAESTRO_SECRET_KEY"], ours).split(".")[0]
    forged = f"{forged_payload}.{back['state'].split('.')[1]}"
    response = client.get(back["path"], query_string={"code": back["code"], "state": forged})
    assert problem_code(response, 400) == "invalid_state"
    assert count_rows(sessions, Destination) == 0


def test_state_binding_a_product_to_another_workspace_attaches_nothing(client, app, tenant, other_tenant, sessions):
    started = start(client, other_tenant, "tiktok").get_json()
    code = consent(started["authorizeUrl"])["code"]
    mixed = oauth_connect.StateClaims("mixed-state-id", other_tenant.workspace_id, tenant.product_id, "tiktok",
                                      "tiktok", utcnow() + timedelta(minutes=5))
    state = oauth_connect.sign_state(app.config["MARKAESTRO_SECRET_KEY"], mixed)
    response = client.get("/oauth/callback/tiktok", query_string={"code": code, "state": state})
    assert problem_code(response, 400) == "invalid_state"
    assert count_rows(sessions, Destination) == 0


def test_state_for_another_channel_is_400(client, tenant, sessions):
    started = start(client, tenant, "tiktok").get_json()
    back = consent(started["authorizeUrl"])
    response = client.get("/oauth/callback/instagram", query_string={"code": back["code"], "state": back["state"]})
    assert problem_code(response, 400) == "invalid_state"
    assert count_rows(sessions, Destination) == 0


def test_declined_consent_is_a_clear_400(client, tenant, sessions):
    state = start(client, tenant, "instagram").get_json()["state"]
    response = client.get("/oauth/callback/instagram", query_string={
        "error": "access_denied", "error_reason": "user_denied", "error_description": "Permissions error",
        "state": state})
    assert problem_code(response, 400) == "oauth_access_denied"
    assert "declined" in response.get_json()["detail"]
    assert count_rows(sessions, Destination) == 0


def test_missing_code_is_400(client, tenant):
    state = start(client, tenant, "tiktok").get_json()["state"]
    assert problem_code(client.get("/oauth/callback/tiktok", query_string={"state": state}), 400) == "missing_code"


def test_platform_refusing_the_code_is_502_and_writes_nothing(client, tenant, sessions):
    state = start(client, tenant, "tiktok").get_json()["state"]
    response = client.get("/oauth/callback/tiktok", query_string={"code": "not-a-code", "state": state})
    assert problem_code(response, 502) == "platform_error"
    assert "invalid_grant" in response.get_json()["detail"]
    assert count_rows(sessions, Destination) == 0


# -- the admin CLI ---------------------------------------------------------------------------


@pytest.fixture
def markaestro(app: Flask, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Runs the admin CLI with the app's settings (as environment variables); the click result."""
    for key, value in app.config.items():
        if key.startswith("MARKAESTRO_"):
            monkeypatch.setenv(key, str(value))

    def run(*args: str) -> Any:
        return CliRunner().invoke(cli, list(args), obj={"plugins": (fake_channel,)}, prog_name="markaestro")

    return run


def test_cli_authorize_prints_a_consent_url_that_connects(markaestro, client, tenant, sessions):
    result = markaestro("destinations", "authorize", "--product", tenant.product_id, "--channel", "tiktok")
    assert result.exit_code == 0, result.output
    started = json.loads(result.stdout)
    assert started["redirectUri"] == f"{PUBLIC_URL}/oauth/callback/tiktok" and started["expiresAt"].endswith("Z")
    back = consent(started["authorizeUrl"])
    response = client.get(back.pop("path"), query_string=back)
    assert response.status_code == 200, response.get_json()
    assert [row.product_id for row in destination_rows(sessions)] == [tenant.product_id]


def test_cli_authorize_refuses_a_channel_without_oauth_connect(markaestro, tenant):
    result = markaestro("destinations", "authorize", "--product", tenant.product_id, "--channel", "fake")
    assert result.exit_code == 1
    assert result.stderr.strip().startswith("Error: channel 'fake' offers no OAuth connect")


def test_platform_failing_the_profile_lookup_is_502_and_writes_nothing(client, tenant, sandboxes, sessions):
    started = start(client, tenant, "tiktok").get_json()
    back = consent(started["authorizeUrl"])
    requests.post(f"{sandboxes.tiktok}/_sandbox/faults", json={"endpoint": "user_info", "fault": "unavailable"},
                  timeout=5).raise_for_status()
    response = client.get(back.pop("path"), query_string=back)
    assert problem_code(response, 502) == "platform_error"
    assert count_rows(sessions, Destination) == 0
