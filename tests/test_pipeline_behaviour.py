"""Pipeline behaviour with real RQ workers: polling, retries, permanent failures, scheduled posts."""

# ruff: noqa: F811
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from core.db import session_scope
from core.models import JobRun
from core.timeutil import utcnow
from tests.pipeline_kit import (  # noqa: F401  (fixtures)
    app_config,
    connect_fake,
    count_events,
    fake_platform,
    finished,
    make_post,
    post_status,
    publish,
    run_status,
    targets_of,
    wait_until,
    workers,
)


def _steps(client, tenant, run_id):
    return client.get(f"/api/public/v1/job-runs/{run_id}", headers=tenant.headers).get_json()["steps"]


def test_polling_releases_the_worker_between_polls(client, sessions, tenant, app_config, fake_platform, workers):
    fake_platform.control(processing_s=1.5)
    destination = connect_fake(sessions, tenant, app_config)
    first, second = make_post(sessions, tenant, destination), make_post(sessions, tenant, destination)
    workers.start()
    run_a = publish(client, tenant, first)
    wait_until(lambda: fake_platform.app.state.posts, what="the first creating call")
    run_b = publish(client, tenant, second)
    wait_until(lambda: finished(sessions, run_a["id"]) and finished(sessions, run_b["id"]), what="both runs")

    posts = {p["token"].split(":")[0]: p for p in fake_platform.app.state.posts.values()}
    # One worker created the second post while the first was still processing: it was not asleep.
    assert posts[second]["created_at"] < posts[first]["ready_at"]
    assert run_status(sessions, run_a["id"]) == run_status(sessions, run_b["id"]) == "succeeded"
    names = [(s["name"], s["status"]) for s in _steps(client, tenant, run_a["id"])]
    assert names == [("create_post", "succeeded"), ("await_processing", "succeeded")]


def test_transient_failures_are_retried_then_succeed_once(client, sessions, tenant, app_config, fake_platform,
                                                           workers):
    fake_platform.control(transient_failures=2)
    destination = connect_fake(sessions, tenant, app_config)
    post_id = make_post(sessions, tenant, destination)
    run = publish(client, tenant, post_id)
    workers.start()
    wait_until(lambda: finished(sessions, run["id"]), what="the run")

    assert run_status(sessions, run["id"]) == "succeeded"
    assert fake_platform.app.state.calls == 3
    assert fake_platform.created() == {f"{post_id}:fake:fake:acct_1": 1}
    statuses = [s["status"] for s in _steps(client, tenant, run["id"])]
    assert statuses == ["retrying", "retrying", "succeeded"]


def test_permanent_failure_fails_the_run_with_the_plugins_message(client, sessions, tenant, app_config,
                                                                   fake_platform, workers, count_events):
    fake_platform.control(permanent=True)
    destination = connect_fake(sessions, tenant, app_config)
    post_id = make_post(sessions, tenant, destination)
    run = publish(client, tenant, post_id)
    workers.start()
    wait_until(lambda: finished(sessions, run["id"]), what="the run")

    body = client.get(f"/api/public/v1/job-runs/{run['id']}", headers=tenant.headers).get_json()
    assert body["status"] == "failed"
    assert "breaks policy 7" in body["error"]["message"]
    [target] = targets_of(sessions, post_id)
    assert target.status == "failed"
    assert target.error == {"code": "platform_rejected", "retryable": False, "platformCode": "CONTENT_REJECTED",
                            "message": "The platform refused this content: it breaks policy 7. "
                                       "(fake platform code CONTENT_REJECTED)"}
    assert post_status(sessions, post_id) == "failed"
    assert set(count_events()) == {"post.failed", "job_run.failed"}
    assert fake_platform.created() == {}


def test_a_due_scheduled_post_publishes_exactly_once(client, sessions, tenant, app_config, fake_platform, workers):
    destination = connect_fake(sessions, tenant, app_config)
    post_id = make_post(sessions, tenant, destination, status="scheduled",
                        scheduled_at=utcnow() + timedelta(seconds=0.5))
    workers.start()
    workers.start()  # two sweepers race for the same due post
    wait_until(lambda: post_status(sessions, post_id) == "published", what="the scheduled post")

    with session_scope(sessions) as session:
        runs = session.scalar(select(func.count()).select_from(JobRun).where(JobRun.post_id == post_id))
    assert runs == 1
    assert fake_platform.created() == {f"{post_id}:fake:fake:acct_1": 1}
