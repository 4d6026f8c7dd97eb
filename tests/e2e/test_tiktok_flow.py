"""TikTok inbox handoff end to end (spec §2.4–§2.6, §4): upload → post → publish → exported_for_review."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from core.db import session_scope
from core.models import Destination
from core.services.credentials import unseal
from plugins.types import Credentials
from tests.media_samples import image_bytes, jpeg, mp4

from .conftest import Client, LiveApp, Served, TikTok, assert_succeeded, connect

INBOX_ACTION = "open_tiktok_inbox_and_complete_editing"
VIDEO_INIT = "/v2/post/publish/inbox/video/init/"
CONTENT_INIT = "/v2/post/publish/content/init/"
WATCH_DEADLINE_S = 30.0  #: a watch poll is due within cadence.POLL_AFTER_S plus the scheduler tick; generous under load


def test_video_reaches_the_creators_inbox(worker: Any, api: Client, tiktok: TikTok, tiktok_destination: str,
                                          events: Any) -> None:
    video = api.upload(mp4(720, 1280, 5000), "teaser.mp4")
    assert (video["kind"], video["mimeType"], video["width"], video["height"]) == ("video", "video/mp4", 720, 1280)
    post = api.create_post("tiktok", [video], caption="Spring drop teaser", destinationId=tiktok_destination)
    assert post["status"] == "draft"

    run, post = api.publish_to_the_end(post["id"])

    assert_succeeded(run)
    assert post["status"] == "exported_for_review" and post["nextAction"] == INBOX_ACTION
    [result] = post["publishResults"]
    assert result["target"] == tiktok_destination and result["status"] == "exported_for_review"
    assert result["externalId"].startswith("v_inbox_file~v2.") and result["error"] is None
    assert result["externalId"] in tiktok.state.publishes
    [init_body] = tiktok.bodies(VIDEO_INIT)
    assert init_body["source_info"] == {"source": "FILE_UPLOAD", "video_size": video["sizeBytes"],
                                        "chunk_size": video["sizeBytes"], "total_chunk_count": 1}
    assert [c.split()[:3] for c in tiktok.calls(skip_status=True)] == [
        ["POST", VIDEO_INIT, "200"], ["PUT", "/upload/video/", "201"]]
    assert run["kind"] == "publish" and run["attempts"] >= 1
    assert run["createdAt"] <= run["startedAt"] <= run["finishedAt"] and run["finishedAt"].endswith("Z")
    assert post["latestJobRunId"] == run["id"]
    assert all(s["status"] == "succeeded" and s["finishedAt"] for s in run["steps"]), run["steps"]
    assert all(s["target"] == tiktok_destination for s in run["steps"])
    assert [s["name"] for s in run["steps"]][:2] == ["init_upload", "upload"]
    assert run["steps"][1]["detail"] == f"1 chunks, {video['sizeBytes']} bytes"
    assert "SEND_TO_USER_INBOX" in run["steps"][-1]["detail"]


def test_video_timeline_names_the_platform_steps(api: Client, tiktok: TikTok, tiktok_destination: str,
                                                 worker: Any) -> None:
    video = api.upload(mp4(720, 1280, 5000), "teaser.mp4")
    run, _post = api.publish_to_the_end(api.create_post("tiktok", [video], caption="Spring drop teaser")["id"])
    assert_succeeded(run)
    assert [s["name"] for s in run["steps"]] == ["init_upload", "upload", "await_inbox_delivery"]


def test_creator_publishing_from_the_inbox_marks_the_post_published(api: Client, tiktok: TikTok,
                                                                    tiktok_destination: str, worker: Any,
                                                                    events: Any) -> None:
    video = api.upload(mp4(720, 1280, 5000), "teaser.mp4")
    run, post = api.publish_to_the_end(api.create_post("tiktok", [video], caption="Spring drop teaser")["id"])
    assert_succeeded(run)
    publish_id = post["publishResults"][0]["externalId"]
    tiktok.state.complete(publish_id)  # the creator posts the inbox draft in the app

    post = api.wait_for(f"/posts/{post['id']}", lambda p: p["status"] != "exported_for_review", WATCH_DEADLINE_S)

    assert post["status"] == "published" and post["nextAction"] is None
    [result] = post["publishResults"]
    assert result["status"] == "published"
    assert result["externalId"] == str(tiktok.state.publishes[publish_id].post_id)
    assert "post.published" in [e["type"] for e in events()]


def test_handoff_records_the_exported_for_review_event(api: Client, tiktok: TikTok, tiktok_destination: str,
                                                       worker: Any, events: Any) -> None:
    video = api.upload(mp4(720, 1280, 5000), "teaser.mp4")
    post = api.create_post("tiktok", [video], caption="Spring drop teaser")
    run, post = api.publish_to_the_end(post["id"])
    assert_succeeded(run)

    recorded = {e["type"]: e for e in events()}
    assert set(recorded) == {"post.exported_for_review", "job_run.succeeded"}
    envelope = recorded["post.exported_for_review"]
    assert envelope["id"].startswith("evt_") and envelope["createdAt"].endswith("Z")
    assert envelope["workspaceId"] == api.tenant.workspace_id
    data = envelope["data"]
    assert {k: data[k] for k in ("postId", "channel", "status", "externalId", "nextAction")} == {
        "postId": post["id"], "channel": "tiktok", "status": "exported_for_review",
        "externalId": post["publishResults"][0]["externalId"], "nextAction": INBOX_ACTION}
    assert [r["status"] for r in data["publishResults"]] == ["exported_for_review"]
    assert recorded["job_run.succeeded"]["data"]["jobRunId"] == run["id"]


def test_photos_are_pulled_from_the_hosted_urls(api: Client, tiktok: TikTok, tiktok_destination: str,
                                                worker: Any, live: tuple[LiveApp, Served]) -> None:
    photos = [api.upload(jpeg((1080, 1350)), "one.jpg"), api.upload(jpeg((1080, 1080)), "two.jpg")]
    post = api.create_post("tiktok", photos, caption="Launch day", options={"title": "Spring drop"})

    run, post = api.publish_to_the_end(post["id"])

    assert_succeeded(run)
    assert post["status"] == "exported_for_review" and post["nextAction"] == INBOX_ACTION
    assert post["publishResults"][0]["externalId"] in tiktok.state.publishes
    [body] = tiktok.bodies(CONTENT_INIT)
    assert body["media_type"] == "PHOTO" and body["post_mode"] == "MEDIA_UPLOAD"
    assert body["post_info"] == {"title": "Spring drop", "description": "Launch day"}
    assert body["source_info"]["source"] == "PULL_FROM_URL"
    assert body["source_info"]["photo_images"] == [p["url"] for p in photos]
    fetched = [(h.method, h.path, h.status, h.content_type) for h in live[0].media_hits()]
    assert fetched == [("GET", p["url"].split(live[1].url, 1)[1], 200, "image/jpeg") for p in photos]


def test_png_photo_arrives_as_a_jpeg_rendition(api: Client, tiktok: TikTok, tiktok_destination: str, worker: Any,
                                               live: tuple[LiveApp, Served]) -> None:
    photos = [api.upload(jpeg((1080, 1350)), "one.jpg"), api.upload(image_bytes("PNG", (1080, 1080)), "two.png")]
    assert photos[1]["mimeType"] == "image/png"
    post = api.create_post("tiktok", photos, caption="Launch day")

    run, post = api.publish_to_the_end(post["id"])

    assert_succeeded(run)
    assert post["status"] == "exported_for_review"
    [body] = tiktok.bodies(CONTENT_INIT)
    urls = body["source_info"]["photo_images"]
    assert urls[0] == photos[0]["url"] and urls[1] != photos[1]["url"]
    fetched = {h.path: (h.status, h.content_type) for h in live[0].media_hits()}
    assert fetched[urls[1].split(live[1].url, 1)[1]] == (200, "image/jpeg")


def test_rejected_token_is_refreshed_mid_run_and_the_rotation_kept(api: Client, app: Any, tiktok: TikTok,
                                                                   tiktok_destination: str, worker: Any) -> None:
    tiktok.state.inject("video_init", "token_expired")
    video = api.upload(mp4(720, 1280, 5000), "teaser.mp4")
    post = api.create_post("tiktok", [video], caption="Spring drop teaser")

    run, post = api.publish_to_the_end(post["id"])

    assert_succeeded(run)
    assert post["status"] == "exported_for_review"
    calls = [c.split()[:3] for c in tiktok.calls(skip_status=True)]
    assert calls == [["POST", VIDEO_INIT, "401"], ["POST", "/v2/oauth/token/", "200"], ["POST", VIDEO_INIT, "200"],
                     ["PUT", "/upload/video/", "201"]]
    stored = _stored_credentials(app, tiktok_destination)
    assert stored.access_token in tiktok.state.tokens and stored.refresh_token in tiktok.state.refresh_tokens


def test_failed_processing_fails_the_post_with_tiktoks_reason(api: Client, tiktok: TikTok,
                                                              tiktok_destination: str, worker: Any) -> None:
    tiktok.state.next_fail_reason = "duration_check_failed"
    video = api.upload(mp4(720, 1280, 5000), "teaser.mp4")
    post = api.create_post("tiktok", [video], caption="Spring drop teaser")

    run, post = api.publish_to_the_end(post["id"])

    assert run["status"] == "failed" and post["status"] == "failed" and post["nextAction"] is None, run
    [result] = post["publishResults"]
    assert result["status"] == "failed"
    assert result["error"]["platformCode"] == "duration_check_failed"
    assert "duration_check_failed" in result["error"]["message"]


def _stored_credentials(app: Any, public_id: str) -> Credentials:
    """The destination's tokens as the database holds them (sealed), unsealed."""
    channel, provider, account = public_id.split(":", 2)
    with session_scope(app.extensions["markaestro.sessions"]) as session:
        row = session.scalars(select(Destination).where(
            Destination.channel == channel, Destination.provider == provider, Destination.account_id == account)).one()
        return unseal(app.config["MARKAESTRO_SECRET_KEY"], row.id, row.credentials)


def test_refused_refresh_asks_for_reconnection(api: Client, app: Any, tenant: Any, tiktok: TikTok, worker: Any,
                                               events: Any) -> None:
    tokens = tiktok.state.issue_tokens()
    destination = connect(app, tenant, "tiktok", "tiktok", tokens["open_id"], tokens["access_token"],
                          "rft.spent-elsewhere")
    tiktok.state.inject("video_init", "token_expired")
    video = api.upload(mp4(720, 1280, 5000), "teaser.mp4")
    post = api.create_post("tiktok", [video], caption="Spring drop teaser")

    run, post = api.publish_to_the_end(post["id"])

    assert run["status"] == "failed" and post["status"] == "failed", run
    assert post["nextAction"] == "reconnect_destination"
    assert post["publishResults"][0]["error"]["code"] == "reauthorization_required", post["publishResults"]
    [listed] = api.get(f"/products/{tenant.product_id}/destinations")["data"]
    assert listed["id"] == destination and listed["status"] == "needs_reauth"
    assert [c.split()[:3] for c in tiktok.calls()] == [["POST", VIDEO_INIT, "401"], ["POST", "/v2/oauth/token/", "400"]]
    types = [e["type"] for e in events()]
    assert "destination.needs_reauth" in types and "post.failed" in types
