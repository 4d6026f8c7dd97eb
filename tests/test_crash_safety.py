"""Crashes and lost Redis data never double-publish (reliability.md §0, §3.2 R1, R2, R7)."""

# ruff: noqa: F811
from __future__ import annotations

from datetime import timedelta

import redis

from core.timeutil import utcnow
from tests.pipeline_kit import (  # noqa: F401  (fixtures)
    app_config,
    connect_fake,
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


def _token(post_id: str) -> str:
    return f"{post_id}:fake:fake:acct_1"


def test_killing_the_whole_worker_tree_mid_publish_then_a_new_worker_completes_once(
        client, sessions, tenant, app_config, fake_platform, workers):
    fake_platform.control(create_delay_s=30)  # the creating call arrives, then hangs
    destination = connect_fake(sessions, tenant, app_config)
    post_id = make_post(sessions, tenant, destination)
    run = publish(client, tenant, post_id)
    first = workers.start()
    wait_until(lambda: fake_platform.created(), what="the creating call to reach the platform")
    horses = workers.children(first)
    workers.kill_group(first)
    for pid in horses:  # the horse has its own process group: kill it too (machine death)
        import os
        import signal

        os.kill(pid, signal.SIGKILL)
    fake_platform.control(create_delay_s=0)

    workers.start()
    wait_until(lambda: finished(sessions, run["id"]), what="the new worker to finish the run")
    assert run_status(sessions, run["id"]) == "succeeded"
    assert fake_platform.created() == {_token(post_id): 1}
    names = [s["name"] for s in client.get(f"/api/public/v1/job-runs/{run['id']}",
                                           headers=tenant.headers).get_json()["steps"]]
    assert "reconcile" in names


def test_killing_only_the_parent_leaves_a_zombie_horse_that_cannot_write(
        client, sessions, tenant, app_config, fake_platform, workers):
    fake_platform.control(create_delay_s=5)  # longer than the 3 s lease
    destination = connect_fake(sessions, tenant, app_config)
    post_id = make_post(sessions, tenant, destination)
    run = publish(client, tenant, post_id)
    first = workers.start()
    wait_until(lambda: fake_platform.created(), what="the creating call to reach the platform")
    horses = workers.children(first)
    workers.kill_parent(first)
    assert horses, "the work horse should survive its parent"

    workers.start()
    wait_until(lambda: finished(sessions, run["id"]), what="the new worker to finish the run")
    wait_until(lambda: not any(_alive(pid) for pid in horses), timeout=15, what="the zombie horse to return")
    assert run_status(sessions, run["id"]) == "succeeded"
    assert post_status(sessions, post_id) == "published"
    assert fake_platform.created() == {_token(post_id): 1}
    assert fake_platform.app.state.calls == 1


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_runs_queued_and_waiting_survive_redis_losing_every_key(
        client, sessions, tenant, app_config, fake_platform, workers):
    fake_platform.control(processing_s=1.5)
    destination = connect_fake(sessions, tenant, app_config)
    waiting, queued_a, queued_b = (make_post(sessions, tenant, destination) for _ in range(3))
    scheduled = make_post(sessions, tenant, destination, status="scheduled",
                          scheduled_at=utcnow() + timedelta(seconds=1))
    worker = workers.start()
    run_waiting = publish(client, tenant, waiting)
    wait_until(lambda: [t for t in targets_of(sessions, waiting) if t.phase == "poll"], what="a scheduled poll")
    workers.kill_group(worker)
    runs = [run_waiting, publish(client, tenant, queued_a), publish(client, tenant, queued_b)]
    redis.Redis.from_url(app_config["MARKAESTRO_REDIS_URL"]).flushall()

    workers.start()
    wait_until(lambda: all(finished(sessions, r["id"]) for r in runs), what="every run")
    wait_until(lambda: post_status(sessions, scheduled) == "published", what="the scheduled post")
    assert all(run_status(sessions, r["id"]) == "succeeded" for r in runs)
    assert fake_platform.created() == {_token(p): 1 for p in (waiting, queued_a, queued_b, scheduled)}


def test_the_scheduler_and_webhook_worker_stop_when_their_publish_worker_is_killed(app_config, redis_client,
                                                                                   workers):
    from rq import Worker

    parent = workers.start()

    def webhook_worker() -> Worker | None:
        return next((w for w in Worker.all(connection=redis_client)
                     if w.name.endswith(f"-webhooks-{parent.pid}")), None)

    webhooks = wait_until(webhook_worker, what="the webhook worker to register").pid
    def started() -> set[int]:
        return {pid for pid in workers.child_processes(parent) if _alive(pid)}

    children = wait_until(lambda: len(started()) >= 2 and started(),
                          what="the scheduler and the webhook worker to start")
    assert webhooks in children  # the other is RQ's scheduler (no job ran, so no work horse)

    workers.kill_parent(parent)

    wait_until(lambda: not any(_alive(pid) for pid in children), timeout=30,
               what="the orphaned scheduler and webhook worker to stop")
