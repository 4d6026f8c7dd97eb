"""Runs worked in rounds: pollers poll waiting runs together, a run's job works the queued backlog.

The job functions run in this process against the fake platform over
HTTP, with real Redis (the queue and the pacer) and both databases.
"""

# ruff: noqa: F811
from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, update

from core import jobs
from core.db import session_scope
from core.models import JobRun, PublishTarget
from core.queue import make_queue, run_job_id
from core.services.publishing_batch import work_runs
from core.services.publishing_lease import claim, claim_many, guard_many
from core.services.publishing_run import process_run
from tests.pipeline_kit import (  # noqa: F401  (fixtures)
    app_config,
    connect_fake,
    fake_platform,
    make_post,
    pipeline,
    publish,
    run_status,
    targets_of,
    wait_until,
)


def _published(client: Any, sessions: Any, tenant: Any, app_config: dict[str, Any], count: int) -> list[str]:
    """``count`` posts published through the API (their jobs queued in Redis); their run ids."""
    destination = connect_fake(sessions, tenant, app_config)
    return [publish(client, tenant, make_post(sessions, tenant, destination, caption=f"post {i}"))["id"]
            for i in range(count)]


def _waiting(pipeline: Any, sessions: Any, run_ids: list[str]) -> None:
    """Make each run's creating call; every run then waits on the platform, due again once its check comes."""
    for run_id in run_ids:
        assert process_run(pipeline, run_id, "test-first-step").startswith("waiting until")
    wait_until(lambda: _all_due(sessions, run_ids), timeout=10, what="the first checks to come due")


def _all_due(sessions: Any, run_ids: list[str]) -> bool:
    now = datetime.now(UTC)
    with session_scope(sessions) as session:
        return all(session.get(JobRun, run_id).next_wake_at <= now for run_id in run_ids)


@pytest.fixture
def statements(pipeline: Any) -> Iterator[list[str]]:
    """Every SQL statement the pipeline's engine sends to the database, as it sends it."""
    engine = pipeline.sessions.kw["bind"]
    sent: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        sent.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    yield sent
    event.remove(engine, "before_cursor_execute", record)


def _round(pipeline: Any, statements: list[str], run_ids: list[str]) -> int:
    """Statements sent by one round of ``work_runs`` over ``run_ids`` (all of them claimed)."""
    before = len(statements)
    assert work_runs(pipeline, run_ids, "test-poller") == len(run_ids)
    return len(statements) - before


def test_a_round_of_waiting_runs_polls_and_settles_them_together(client, sessions, tenant, app_config, fake_platform,
                                                                 pipeline, statements):
    fake_platform.control(processing_s=0.2)
    runs = _published(client, sessions, tenant, app_config, 8)
    _waiting(pipeline, sessions, runs)

    small, large = _round(pipeline, statements, runs[:2]), _round(pipeline, statements, runs[2:])

    assert [run_status(sessions, r) for r in runs] == ["succeeded"] * 8
    assert sorted(fake_platform.created().values()) == [1] * 8
    assert small == large  # one claim, one read, one write: the same statements for 2 runs as for 6


def test_a_round_creates_fresh_runs_beside_the_waiting_ones(client, sessions, tenant, app_config, fake_platform,
                                                           pipeline):
    fake_platform.control(processing_s=0.2)
    runs = _published(client, sessions, tenant, app_config, 3)
    _waiting(pipeline, sessions, runs[:2])

    assert work_runs(pipeline, runs, "test-poller") == 3

    assert [run_status(sessions, r) for r in runs[:2]] == ["succeeded", "succeeded"]
    [fresh] = targets_of(sessions, _post_of(sessions, runs[2]))
    assert (fresh.status, fresh.phase) == ("publishing", "poll")  # created, now waiting like the others
    assert sorted(fake_platform.created().values()) == [1, 1, 1]


def _post_of(sessions: Any, run_id: str) -> str:
    with session_scope(sessions) as session:
        return str(session.get(JobRun, run_id).post_id)


def test_a_creating_calls_platform_id_is_committed_before_the_rounds_slower_call_answers(
        client, sessions, tenant, app_config, fake_platform, pipeline):
    fake_platform.control(processing_s=60, create_delays=[2.0])  # the first creating call answers after 2 s
    runs = _published(client, sessions, tenant, app_config, 2)
    side_by_side = replace(pipeline, settings=replace(pipeline.settings, concurrency=2))
    round_ = threading.Thread(target=work_runs, args=(side_by_side, runs, "test-round"))
    round_.start()
    try:
        committed = wait_until(lambda: _created_targets(sessions, runs), timeout=10,
                               what="the quick call's platform id to be committed")
        still_waiting = fake_platform.app.state.waiting
    finally:
        round_.join()

    assert (len(committed), still_waiting) == (1, 1)  # committed while the slow call was still out
    assert len(_created_targets(sessions, runs)) == 2
    assert sorted(fake_platform.created().values()) == [1, 1]


def _created_targets(sessions: Any, run_ids: list[str]) -> list[PublishTarget]:
    """The runs' targets whose platform id is committed."""
    return [t for run_id in run_ids for t in targets_of(sessions, _post_of(sessions, run_id)) if t.handle.get("postId")]


def _make_due(sessions: Any, run_id: str, late_by_s: float) -> datetime:
    """Make the run's waiting target due ``late_by_s`` ago (a poller running late); that due time."""
    due, post_id = datetime.now(UTC) - timedelta(seconds=late_by_s), _post_of(sessions, run_id)
    with session_scope(sessions) as session:
        session.execute(update(JobRun).where(JobRun.id == run_id).values(next_wake_at=due))
        session.execute(update(PublishTarget).where(PublishTarget.post_id == post_id).values(next_check_at=due))
    return due


def test_a_late_poll_keeps_the_channels_cadence(client, sessions, tenant, app_config, fake_platform, pipeline):
    fake_platform.control(processing_s=60)
    [run] = _published(client, sessions, tenant, app_config, 1)
    _waiting(pipeline, sessions, [run])
    due = _make_due(sessions, run, late_by_s=0.3)

    assert work_runs(pipeline, [run], "test-poller") == 1

    [target] = targets_of(sessions, _post_of(sessions, run))
    assert abs((target.next_check_at - (due + timedelta(seconds=1.0))).total_seconds()) < 0.01  # the fake's 1 s


def test_a_poll_later_than_half_an_interval_waits_half_an_interval_for_the_next(client, sessions, tenant, app_config,
                                                                                fake_platform, pipeline):
    fake_platform.control(processing_s=60)
    [run] = _published(client, sessions, tenant, app_config, 1)
    _waiting(pipeline, sessions, [run])
    _make_due(sessions, run, late_by_s=3.0)
    before = datetime.now(UTC)

    assert work_runs(pipeline, [run], "test-poller") == 1

    [target] = targets_of(sessions, _post_of(sessions, run))
    assert before + timedelta(seconds=0.5) <= target.next_check_at <= datetime.now(UTC) + timedelta(seconds=0.5)


def test_a_run_taken_over_after_the_rounds_claim_is_not_written_by_the_round(client, sessions, tenant, app_config,
                                                                            fake_platform, pipeline):
    kept, lost = _published(client, sessions, tenant, app_config, 2)
    with session_scope(sessions) as session:
        leases = [c.lease for c in claim_many(session, [kept, lost], "round", 60)]
    with session_scope(sessions) as session:  # the round's lease on ``lost`` expires and another worker takes it
        session.execute(update(JobRun).where(JobRun.id == lost).values(lease_expires_at=datetime.now(UTC)
                                                                       - timedelta(seconds=1)))
    with session_scope(sessions) as session:
        assert claim(session, lost, "other", 60) is not None

    with session_scope(sessions) as session:
        assert guard_many(session, leases) == {kept}


def test_overlapping_rounds_each_claim_a_run_once_without_waiting(client, sessions, tenant, app_config, fake_platform,
                                                                  backend):
    if backend == "sqlite":
        pytest.skip("SQLite has one writer: a second round waits for the first instead of skipping its rows")
    runs = _published(client, sessions, tenant, app_config, 4)
    with session_scope(sessions) as first, session_scope(sessions) as second:
        taken_first = {c.lease.run_id for c in claim_many(first, runs[:3], "first", 60)}
        started = time.monotonic()
        taken_second = {c.lease.run_id for c in claim_many(second, runs[1:], "second", 60)}
        waited = time.monotonic() - started

    assert taken_first == set(runs[:3])
    assert taken_second == {runs[3]}  # rows the first round locked are skipped, not waited for
    assert waited < 5  # a lock wait would last until the first transaction ended (never, here)


def test_once_per_slot_asks_once_for_each_future_second_and_always_for_now():
    asked: list[tuple[str, datetime | None]] = []
    schedule = jobs.once_per_slot(lambda run_id, fence, at, note="": asked.append((run_id, at)))
    soon = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=30)

    schedule("a", 1, soon + timedelta(milliseconds=100))
    schedule("b", 1, soon + timedelta(milliseconds=900))  # the same poller second
    schedule("c", 1, soon + timedelta(seconds=1, milliseconds=500))  # the next one
    schedule("d", 1, None)
    schedule("e", 1, None)

    assert [run_id for run_id, _ in asked] == ["a", "c", "d", "e"]


@pytest.fixture
def configured_jobs(app: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """``core.jobs`` configured with the app's settings and plugins, as the worker does; the queue."""
    monkeypatch.setattr(jobs, "_setup", None)
    monkeypatch.setattr(jobs, "_context", None)
    jobs.configure(app.config, app.extensions["markaestro.channels"])
    return make_queue(jobs.pipeline_context().queue.connection, app.config["MARKAESTRO_QUEUE_NAME"])


def test_a_runs_job_works_the_queued_backlog_and_takes_their_jobs_off_the_queue(client, sessions, tenant,
                                                                                app_config, fake_platform,
                                                                                configured_jobs):
    fake_platform.control(processing_s=30)
    first, *others = _published(client, sessions, tenant, app_config, 4)
    queued = set(configured_jobs.job_ids)
    assert {run_job_id(r, 0) for r in (first, *others)} <= queued

    summary = jobs.publish_run(first)

    assert summary.endswith("then 3 queued runs")
    assert [run_status(sessions, r) for r in (first, *others)] == ["running"] * 4  # all created, all waiting
    assert sorted(fake_platform.created().values()) == [1, 1, 1, 1]
    left = set(configured_jobs.job_ids)
    assert not {run_job_id(r, 0) for r in others} & left  # their own jobs are gone: nothing to start twice
    assert run_job_id(first, 0) in left  # this job ran in-process; RQ still holds its queue entry


@pytest.fixture
def four_threads(app_config: dict[str, Any]) -> dict[str, Any]:
    app_config["MARKAESTRO_WORKER_CONCURRENCY"] = "4"
    return app_config


def test_a_round_makes_slow_platform_calls_side_by_side(four_threads, client, sessions, tenant, app_config,
                                                       fake_platform, pipeline, backend):
    if backend == "sqlite":
        pytest.skip("on SQLite a job works one run at a time (its single writer would serialise the threads)")
    fake_platform.control(create_delay_s=1.5)  # long enough for all four threads to get there under load
    runs = _published(client, sessions, tenant, app_config, 8)

    assert work_runs(pipeline, runs, "test-poller") == 8

    assert fake_platform.app.state.peak_waiting == 4  # four creating calls at once, never more
    assert sorted(fake_platform.created().values()) == [1] * 8
    assert [run_status(sessions, r) for r in runs] == ["succeeded"] * 8


def test_sqlite_works_one_run_at_a_time_unless_told_otherwise(pipeline, backend):
    assert pipeline.settings.concurrency == (1 if backend == "sqlite" else 8)
