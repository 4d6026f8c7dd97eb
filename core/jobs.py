"""RQ job functions. They take ids, re-read the database and never trust RQ state.

The worker calls :func:`configure` once with its settings and channel
plugins and builds the pipeline context (database engine, Redis pool,
queue, pacer, plugins) in the worker process, before any work horse is
forked. Every forked child inherits it: an ``os.register_at_fork`` hook
gives the child a fresh connection pool (``engine.dispose(close=False)``,
as SQLAlchemy recommends for ``fork``), so no connection is ever shared
across processes while the engine's dialect state and compiled-statement
cache, the plugins and the Lua script are reused. redis-py resets its
pool in a child by itself. A job run by a plain ``rq worker`` configures
itself from the environment on first use.

Each unit of work (a run, a round's claim, a round's write) checks out
one database connection and runs all its transactions on it
(:func:`~core.services.publishing_context.job_context`), instead of one
checkout (and pre-ping) per transaction; each transaction still commits on
its own. A job makes up to ``MARKAESTRO_WORKER_CONCURRENCY`` platform
calls side by side in threads, so one slow platform call does not hold up
the others (:func:`~core.services.publishing_batch.work_runs`).

Waiting runs are worked by :func:`poll_due`, one job per wake-up second
rather than one job per run and poll (see :mod:`core.queue`): it claims
and advances every due run in turn, through the same lease and fence as a
run's own job, so a run worked by two jobs at once is still worked once.
"""

from __future__ import annotations

import os
import random
import secrets
import time
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from rq import get_current_job
from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session, sessionmaker

from plugins.manager import Channels

from .db import make_engine, make_session_factory
from .models import JobRun
from .pacer import RedisPacer
from .queue import connect, discard_queued, enqueue_poller, enqueue_run, make_queue, poller_slot, run_job_id
from .services.publishing_batch import work_runs
from .services.publishing_context import PipelineContext, PipelineSettings, Schedule, engine_of, job_context
from .services.publishing_lease import Claimed
from .services.publishing_run import process_run
from .timeutil import utcnow

POLL_BATCH = 200  #: due runs read per round by a poller
POLL_CHUNK = 50  #: due runs claimed and worked together (one claim, one write)
POLL_HELPERS = 2  #: extra pollers a poller asks for when a round is full (more workers join in)
POLL_BUDGET_S = 120.0  #: a poller hands over to a fresh one after this long
BACKLOG_BATCH = 50  #: queued runs read per round by a run's job working the backlog
BACKLOG_BUDGET_S = 10.0  #: a run's job stops taking queued runs after this long

_setup: tuple[Mapping[str, Any], Channels] | None = None
_context: PipelineContext | None = None


def configure(config: Mapping[str, Any], channels: Channels) -> None:
    """Set the configuration and plugins jobs in this process (and its forks) use."""
    global _setup, _context
    _setup = (dict(config), channels)
    _context = None


def pipeline_context() -> PipelineContext:
    """This process's pipeline context, built on first use and inherited by forked children."""
    global _context
    if _context is None:
        if _setup is None:
            _configure_from_environment()
        assert _setup is not None
        _context = build_context(*_setup)
    return _context


def build_context(config: Mapping[str, Any], channels: Channels) -> PipelineContext:
    settings = PipelineSettings.from_config(config)
    engine = make_engine(str(config["MARKAESTRO_DATABASE_URL"]), pool_size=max(5, settings.concurrency + 2))
    sessions: sessionmaker[Session] = make_session_factory(engine)
    connection = connect(str(config["MARKAESTRO_REDIS_URL"]))
    queue = make_queue(connection, str(config.get("MARKAESTRO_QUEUE_NAME") or "markaestro"))

    def schedule(run_id: str, fence: int, at: datetime | None, note: str = "") -> None:
        enqueue_run(queue, run_id, fence, at, description=note)

    return PipelineContext(sessions=sessions, channels=channels, config=config, pacer=RedisPacer(connection),
                           schedule=schedule, settings=settings, queue=queue)


def _configure_from_environment() -> None:
    from . import create_app

    app = create_app()
    configure(app.config, app.extensions["markaestro.channels"])


def _after_fork_in_child() -> None:
    """A forked child must never use its parent's pooled connections: give it an empty pool."""
    if _context is not None and (engine := engine_of(_context)) is not None:
        engine.dispose(close=False)


os.register_at_fork(after_in_child=_after_fork_in_child)


def publish_run(run_id: str) -> str:
    """Advance the publish run ``run_id`` as far as it can go without waiting, then work the backlog.

    After its own run, the job works other fresh (``queued``) runs while
    there are any, for up to :data:`BACKLOG_BUDGET_S`: each is claimed
    through the same lease and fence as by its own job, and that job,
    now pointless, is taken off the queue once the claim committed
    (:func:`core.queue.discard_queued`). A burst of publishes thus costs a
    few RQ jobs (and, with a forking worker, a few work horses) instead of
    one per run. Runs whose own job already started are simply claimed by
    whichever job gets there first; the other finds nothing to do.
    """
    job = get_current_job()
    prefix = f"{job.id if job else 'inline'}/{os.getpid()}"
    ctx = pipeline_context()
    with job_context(ctx) as own:
        result = process_run(own, run_id, f"{prefix}/{secrets.token_hex(4)}")
    worked = _work_backlog(ctx, prefix, time.monotonic() + BACKLOG_BUDGET_S)
    return f"{result}; then {worked} queued runs" if worked else result


def _work_backlog(ctx: PipelineContext, prefix: str, until: float) -> int:
    """Claim and work ``queued`` runs in rounds, oldest first, until none is left or ``until`` passed."""
    worked = 0
    ctx = replace(ctx, schedule=once_per_slot(ctx.schedule))

    def discard_their_jobs(claims: list[Claimed]) -> None:
        for claimed in claims:  # each run's job is named for the fence before this claim
            if ctx.queue is not None:
                discard_queued(ctx.queue, run_job_id(claimed.lease.run_id, claimed.lease.fence - 1))

    while time.monotonic() < until:
        backlog = _queued_runs(ctx, BACKLOG_BATCH)
        if not backlog:
            break
        random.shuffle(backlog)  # jobs working the backlog side by side rarely try the same run
        worked += work_runs(ctx, backlog, f"{prefix}/{secrets.token_hex(4)}", on_claimed=discard_their_jobs)
    return worked


def _queued_runs(ctx: PipelineContext, limit: int) -> list[str]:
    """Fresh runs nobody holds, oldest first."""
    query = (select(JobRun.id).where(JobRun.status == "queued", JobRun.lease_owner.is_(None))
             .order_by(JobRun.created_at).limit(limit))
    with ctx.sessions() as session:
        return list(session.scalars(query))


def poll_due() -> str:
    """Work every run that is due now: waiting runs whose wake time came, or runs to resume.

    Rounds of up to :data:`POLL_BATCH` due runs, taken in a random order
    (so helpers rarely try the same run) in chunks of :data:`POLL_CHUNK`,
    each claimed and worked together by
    :func:`~core.services.publishing_batch.work_runs` (a run another job
    holds is skipped by the claim). A full round asks for helper pollers so
    idle workers share the backlog. The wake-ups this poller schedules are
    asked of Redis once per poller slot. Returns a summary.
    """
    job = get_current_job()
    prefix = f"{job.id if job else 'inline'}/{os.getpid()}"
    started, worked, rounds = time.monotonic(), 0, 0
    base = pipeline_context()
    ctx = replace(base, schedule=once_per_slot(base.schedule))
    while time.monotonic() - started < POLL_BUDGET_S:
        due = _due_runs(ctx, POLL_BATCH)
        if not due:
            return f"worked {worked} runs in {rounds} rounds"
        if len(due) == POLL_BATCH and ctx.queue is not None:
            for helper in range(1, POLL_HELPERS + 1):
                enqueue_poller(ctx.queue, helper)
        random.shuffle(due)
        for start in range(0, len(due), POLL_CHUNK):
            worked += work_runs(ctx, due[start:start + POLL_CHUNK], f"{prefix}/{secrets.token_hex(4)}")
        rounds += 1
    if ctx.queue is not None:
        enqueue_poller(ctx.queue)
    return f"worked {worked} runs in {rounds} rounds; handed over"


def once_per_slot(schedule: Schedule) -> Schedule:
    """``schedule``, asking Redis only once per poller slot for wake-ups in the future.

    Every run waking in one slot is worked by the same poller
    (:func:`core.queue.schedule_poller`), and a slot still in the future
    cannot have run yet, so one ensured poller serves them all.
    """
    ensured: set[int] = set()

    def schedule_once(run_id: str, fence: int, at: datetime | None, note: str = "") -> None:
        if at is not None and at > utcnow():
            slot = poller_slot(at)
            if slot in ensured:
                return
            ensured.add(slot)
        schedule(run_id, fence, at, note)

    return schedule_once


def _due_runs(ctx: PipelineContext, limit: int) -> list[str]:
    """Runs a claim would take now: active, lease free or expired, wake time passed.

    Fresh runs (no wake time) first: their platform work has not even
    started, while a waiting run's poll only checks on work under way.
    """
    now = utcnow()
    free = or_(JobRun.lease_owner.is_(None), JobRun.lease_expires_at < now)
    due = or_(JobRun.next_wake_at.is_(None), JobRun.next_wake_at <= now)
    query = (select(JobRun.id).where(JobRun.status.in_(("queued", "running")), and_(free, due))
             .order_by(JobRun.next_wake_at.asc().nulls_first()).limit(limit))
    with ctx.sessions() as session:
        return list(session.scalars(query))
