"""A scheduled post is published by the worker at its time, exactly once (spec §2.4)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.media_samples import jpeg

from .conftest import Client, Instagram


def test_scheduled_instagram_post_publishes_at_its_time(api: Client, instagram: Instagram,
                                                        instagram_destination: str, worker: Any,
                                                        events: Any) -> None:
    photo = api.upload(jpeg((1080, 1080)), "launch.jpg")
    due = datetime.now(UTC) + timedelta(seconds=1.5)
    post = api.create_post("instagram", [photo], caption="Launch day",
                           scheduledAt=due.isoformat(timespec="milliseconds").replace("+00:00", "Z"))
    assert post["status"] == "scheduled" and post["latestJobRunId"] is None

    post = api.wait_for(f"/posts/{post['id']}", lambda p: p["status"] not in ("scheduled", "publishing"))

    assert post["status"] == "published", post
    run = api.get(f"/job-runs/{post['latestJobRunId']}")
    assert run["status"] == "succeeded" and run["postId"] == post["id"]
    assert datetime.fromisoformat(run["createdAt"]) >= due
    assert instagram.endpoints().count("POST media_publish") == 1
    assert [e["type"] for e in events()].count("post.published") == 1
