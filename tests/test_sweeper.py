"""The sweeper resumes runs that lost their job, and leaves alone the ones about to be taken.

Real Redis (the queue) and both databases; the sweep is called in this
process with ``now`` moved forward instead of waiting.
"""

# ruff: noqa: F811
from __future__ import annotations

from datetime import timedelta
from typing import Any

from core.services.publishing_run import process_run
from core.sweeper import sweep
from core.timeutil import utcnow
from tests.pipeline_kit import (  # noqa: F401  (fixtures)
    app_config,
    connect_fake,
    fake_platform,
    make_post,
    pipeline,
    publish,
)

GRACE_S = 5.0


def _run(client: Any, sessions: Any, tenant: Any, app_config: dict[str, Any]) -> str:
    destination = connect_fake(sessions, tenant, app_config)
    return str(publish(client, tenant, make_post(sessions, tenant, destination))["id"])


def test_a_queued_run_whose_job_was_lost_is_enqueued_once_the_grace_passed(client, sessions, tenant, app_config,
                                                                          fake_platform, pipeline, redis_client):
    run = _run(client, sessions, tenant, app_config)
    redis_client.flushdb()  # Redis lost the run's job

    just_queued = sweep(pipeline, grace_s=GRACE_S)
    later = sweep(pipeline, now=utcnow() + timedelta(seconds=GRACE_S + 1), grace_s=GRACE_S)

    assert just_queued.enqueued == []  # its job is normally just being taken: Redis is not asked
    assert later.enqueued == [run]


def test_a_waiting_run_is_resumed_only_when_its_wake_up_is_overdue(client, sessions, tenant, app_config,
                                                                   fake_platform, pipeline, redis_client):
    fake_platform.control(processing_s=60)
    run = _run(client, sessions, tenant, app_config)
    assert process_run(pipeline, run, "test-first-step").startswith("waiting until")
    redis_client.flushdb()  # the poller that would wake it is lost too

    woken_just_now = sweep(pipeline, now=utcnow() + timedelta(seconds=1.5), grace_s=GRACE_S)
    overdue = sweep(pipeline, now=utcnow() + timedelta(seconds=GRACE_S + 2), grace_s=GRACE_S)

    assert woken_just_now.enqueued == []
    assert overdue.enqueued == [run]
