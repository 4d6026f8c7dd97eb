"""Watching a handed-off post (issue 4) with real RQ workers: handoff, then the creator's own publish.

The ``fakeinbox`` channel hands posts off like TikTok's inbox and asks to be
watched every 0.5 s; the fake platform's creator acts through ``/_creator``.
"""

# ruff: noqa: F811
from __future__ import annotations

from datetime import timedelta

from core.db import session_scope
from core.models import PublishTarget
from core.timeutil import utcnow
from tests.finish_recorder import recorded
from tests.pipeline_kit import (  # noqa: F401  (fixtures)
    app_config,
    connect_fake,
    count_events,
    event_types,
    fake_platform,
    finished,
    make_post,
    post_status,
    publish,
    runs_of,
    targets_of,
    wait_until,
    workers,
)

API = "/api/public/v1"
INBOX_ACTION = "open_tiktok_inbox_and_complete_editing"


def _post(client, tenant, post_id):
    return client.get(f"{API}/posts/{post_id}", headers=tenant.headers).get_json()


def _run(client, tenant, run_id):
    return client.get(f"{API}/job-runs/{run_id}", headers=tenant.headers).get_json()


def _handed_off(client, sessions, tenant, app_config, workers):
    """Publish a ``fakeinbox`` post with a worker running; wait for the publish run to finish."""
    destination = connect_fake(sessions, tenant, app_config, channel="fakeinbox", account="creator_1")
    post_id = make_post(sessions, tenant, destination, caption="Spring drop teaser")
    run = publish(client, tenant, post_id)
    workers.start()
    wait_until(lambda: finished(sessions, run["id"]), timeout=60, what="the publish run")
    return post_id, run["id"]


def _watch_run(sessions, post_id):
    [publish_run, watch_run] = runs_of(sessions, post_id)
    assert (publish_run.kind, watch_run.kind) == ("publish", "watch")
    return watch_run


def _watching(sessions, post_id) -> bool:
    return targets_of(sessions, post_id)[0].phase == "watch"


def test_handoff_is_exported_for_review_then_published_when_the_creator_posts(
        client, sessions, tenant, app_config, fake_platform, workers, count_events):
    post_id, run_id = _handed_off(client, sessions, tenant, app_config, workers)

    run = _run(client, tenant, run_id)
    assert run["status"] == "succeeded" and run["error"] is None
    post = _post(client, tenant, post_id)
    assert (post["status"], post["nextAction"]) == ("exported_for_review", INBOX_ACTION)
    [result] = post["publishResults"]
    assert result["status"] == "exported_for_review" and result["externalId"].startswith("fp_")
    assert sorted(count_events()) == ["job_run.succeeded", "post.exported_for_review"]
    assert count_events()["post.exported_for_review"]["data"]["nextAction"] == INBOX_ACTION
    assert _watch_run(sessions, post_id).status == "running" and _watching(sessions, post_id)

    fake_platform.creator(result["externalId"], "publish")
    wait_until(lambda: post_status(sessions, post_id) == "published", what="the watch to see the creator's post")

    post = _post(client, tenant, post_id)
    assert post["nextAction"] is None and post["latestJobRunId"] == run_id
    [result] = post["publishResults"]
    assert result["status"] == "published" and result["externalId"].startswith("pub_")
    assert result["url"] == f"https://fake.example/p/{result['externalId']}"
    published = count_events()["post.published"]["data"]
    assert (published["postId"], published["status"], published["nextAction"]) == (post_id, "published", None)
    assert published["externalId"] == result["externalId"]
    assert sorted(event_types(sessions)) == ["job_run.succeeded", "post.exported_for_review", "post.published"]
    assert fake_platform.created() == {f"{post_id}:fakeinbox:fake:creator_1": 1}
    wait_until(lambda: _watch_run(sessions, post_id).status == "succeeded", what="the watch run to finish")
    watch = _run(client, tenant, _watch_run(sessions, post_id).id)
    assert watch["kind"] == "watch" and watch["finishedAt"]
    assert [(s["name"], s["status"]) for s in watch["steps"]] == [("watch_creator_publish", "succeeded")]
    assert _run(client, tenant, run_id)["steps"] == run["steps"]  # the publish run's timeline is unchanged


def test_the_watch_stops_quietly_at_its_deadline(client, sessions, tenant, app_config, fake_platform, workers):
    post_id, _run_id = _handed_off(client, sessions, tenant, app_config, workers)
    assert _watching(sessions, post_id)
    with session_scope(sessions) as session:
        target = session.query(PublishTarget).filter_by(post_id=post_id).one()
        target.deadline_at = utcnow() - timedelta(seconds=1)

    wait_until(lambda: not _watching(sessions, post_id), timeout=60, what="the watch to stop")

    [target] = targets_of(sessions, post_id)
    assert (target.status, target.error, target.next_check_at) == ("exported_for_review", None, None)
    post = _post(client, tenant, post_id)
    assert (post["status"], post["nextAction"]) == ("exported_for_review", INBOX_ACTION)
    wait_until(lambda: _watch_run(sessions, post_id).status == "succeeded", what="the watch run to finish")
    steps = _run(client, tenant, _watch_run(sessions, post_id).id)["steps"]
    assert [(s["name"], s["status"]) for s in steps] == [("watch_creator_publish", "stopped")]
    assert sorted(event_types(sessions)) == ["job_run.succeeded", "post.exported_for_review"]


def test_a_deleted_draft_ends_the_watch_with_the_reason_and_keeps_the_post_exported(
        client, sessions, tenant, app_config, fake_platform, workers):
    post_id, _run_id = _handed_off(client, sessions, tenant, app_config, workers)
    fake_platform.creator(targets_of(sessions, post_id)[0].external_id, "delete")

    wait_until(lambda: not _watching(sessions, post_id), timeout=60, what="the watch to see the deletion")

    [result] = _post(client, tenant, post_id)["publishResults"]
    assert result["status"] == "exported_for_review"
    assert result["error"] == {"code": "deleted_by_creator", "retryable": False, "platformCode": "DELETED",
                               "message": "The creator deleted the draft from the inbox without posting it."}
    assert post_status(sessions, post_id) == "exported_for_review"
    wait_until(lambda: _watch_run(sessions, post_id).status == "failed", what="the watch run to fail")
    watch = _run(client, tenant, _watch_run(sessions, post_id).id)
    assert watch["error"]["code"] == "watch_failed" and "deleted the draft" in watch["error"]["message"]
    assert sorted(event_types(sessions)) == ["job_run.succeeded", "post.exported_for_review"]


def test_publish_finished_is_told_each_terminal_state_and_its_errors_are_ignored(
        client, sessions, tenant, app_config, fake_platform, workers, tmp_path):
    sink = str(tmp_path / "finished.jsonl")
    workers.env["MARKAESTRO_EXTRA_PLUGINS"] += ",tests.finish_recorder"
    workers.env["FINISH_RECORDER_FILE"] = sink
    post_id, run_id = _handed_off(client, sessions, tenant, app_config, workers)
    wait_until(lambda: recorded(sink), what="the handoff notice")
    fake_platform.creator(targets_of(sessions, post_id)[0].external_id, "publish")
    wait_until(lambda: post_status(sessions, post_id) == "published", what="the creator's post")
    wait_until(lambda: len(recorded(sink)) >= 2, what="the published notice")

    token = f"{post_id}:fakeinbox:fake:creator_1"
    [handoff, published] = recorded(sink)
    assert (handoff["state"], handoff["channel"], handoff["post"]) == ("exported_for_review", "fakeinbox", token)
    assert handoff["externalId"].startswith("fp_") and handoff["destination"] == "fakeinbox:fake:creator_1"
    assert published["state"] == "published" and published["externalId"].startswith("pub_")
    assert finished(sessions, run_id) and _post(client, tenant, post_id)["publishResults"][0]["status"] == "published"
