"""The sandbox refuses what Instagram refuses (direct HTTP, no plugin involved)."""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any

import requests
from ig_support import IG_USER, MediaHost, Sandbox


def _post(sandbox: Sandbox, path: str, **data: Any) -> requests.Response:
    return requests.post(f"{sandbox.url}{path}", data={"access_token": "IGAAt", **data}, timeout=5)


def _error(response: requests.Response) -> tuple[int, int | None]:
    error = response.json()["error"]
    assert error["type"] == "OAuthException" and error["fbtrace_id"]
    return error["code"], error.get("error_subcode")


def test_standalone_video_must_be_a_reel(sandbox: Sandbox, media_host: MediaHost) -> None:
    video = media_host.video("ast_v")
    assert _error(_post(sandbox, f"/v25.0/{IG_USER}/media", media_type="VIDEO", video_url=video.url)) == (
        100, 2207023)
    assert _error(_post(sandbox, f"/v25.0/{IG_USER}/media", media_type="REELS", video_url=video.url,
                        is_carousel_item="true")) == (100, 2207023)


def test_carousel_rules(sandbox: Sandbox, media_host: MediaHost) -> None:
    image, video = media_host.jpeg("ast_i"), media_host.video("ast_v")
    child = _post(sandbox, f"/{IG_USER}/media", image_url=image.url, is_carousel_item="true").json()["id"]
    assert _error(_post(sandbox, f"/{IG_USER}/media", media_type="CAROUSEL", children=child)) == (100, 2207028)
    slow = _post(sandbox, f"/{IG_USER}/media", media_type="VIDEO", video_url=video.url,
                 is_carousel_item="true").json()["id"]
    assert _error(_post(sandbox, f"/{IG_USER}/media", media_type="CAROUSEL", children=f"{child},{slow}")) == (
        9007, 2207027)
    assert _error(_post(sandbox, f"/{IG_USER}/media_publish", creation_id=child)) == (100, 33)


def test_tokens_and_versions(sandbox: Sandbox) -> None:
    missing = requests.get(f"{sandbox.url}/v25.0/me", timeout=5)
    assert _error(missing) == (104, None)
    expired = requests.get(f"{sandbox.url}/me", params={"access_token": "expired-1"}, timeout=5)
    assert _error(expired) == (190, 463)
    bearer = requests.get(f"{sandbox.url}/v19.0/me", headers={"Authorization": "Bearer IGAAx"}, timeout=5)
    assert bearer.json()["user_id"] == IG_USER


def test_request_log_and_state(sandbox: Sandbox) -> None:
    requests.get(f"{sandbox.url}/v25.0/me", params={"access_token": "IGAAx", "fields": "username"}, timeout=5)
    log = requests.get(f"{sandbox.url}/_sandbox/requests", timeout=5).json()["data"]
    assert [(r["method"], r["path"], r["endpoint"], r["params"]) for r in log] == [
        ("GET", "/v25.0/me", "GET me", {"fields": "username"})]
    assert "containers" in requests.get(f"{sandbox.url}/_sandbox/state", timeout=5).json()


def test_injected_server_error_is_the_graph_envelope(sandbox: Sandbox) -> None:
    sandbox.control("faults", kind="server_error", endpoint="GET me")
    answer = requests.get(f"{sandbox.url}/me", params={"access_token": "IGAAx"}, timeout=5)
    assert answer.status_code == 500 and answer.json()["error"]["is_transient"] is True
    assert requests.get(f"{sandbox.url}/me", params={"access_token": "IGAAx"}, timeout=5).status_code == 200


def test_entry_point_is_declared() -> None:
    [point] = [e for e in entry_points(group="markaestro") if e.name == "instagram"]
    assert point.value == "channels_instagram"
