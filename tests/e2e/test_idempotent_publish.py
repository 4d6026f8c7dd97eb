"""Idempotency-Key on publish (spec §1.3, §2.5): a retried publish replays the 202 and publishes once."""

from __future__ import annotations

from typing import Any

from tests.media_samples import mp4

from .conftest import Client, TikTok, assert_succeeded
from .test_tiktok_flow import VIDEO_INIT


def test_publish_retried_with_the_same_key_replays_the_202_and_inits_once(api: Client, tiktok: TikTok,
                                                                          tiktok_destination: str,
                                                                          worker: Any) -> None:
    video = api.upload(mp4(720, 1280, 5000), "teaser.mp4")
    post = api.create_post("tiktok", [video], caption="Spring drop teaser")
    path = f"/posts/{post['id']}/publish"

    first = api.post(path, **{"Idempotency-Key": "publish-teaser-1"})
    again = api.post(path, **{"Idempotency-Key": "publish-teaser-1"})

    assert first.status_code == 202 and "Idempotent-Replayed" not in first.headers, first.text
    assert again.status_code == 202 and again.headers["Idempotent-Replayed"] == "true", again.text
    assert again.content == first.content
    run = api.wait_for_run(first.json()["id"])
    assert_succeeded(run)
    assert api.get(f"/posts/{post['id']}")["latestJobRunId"] == run["id"]
    late = api.post(path, **{"Idempotency-Key": "publish-teaser-1"})  # after the run finished: still a replay
    assert late.status_code == 202 and late.content == first.content
    assert [c.split()[:3] for c in tiktok.calls() if VIDEO_INIT in c] == [["POST", VIDEO_INIT, "200"]]
    assert len(tiktok.state.publishes) == 1
    unkeyed = api.post(path)  # without the key it is a new request: the post is no longer publishable
    assert unkeyed.status_code == 409 and unkeyed.json()["code"] == "post_not_publishable", unkeyed.text
