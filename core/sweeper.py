"""The sweeper: the database drives the queue, so nothing depends on Redis keeping data.

Every pass (run every few seconds by each worker; passes are idempotent
and safe to run concurrently):

1. due ``scheduled`` posts get their run, exactly once (the conditional
   ``scheduled → publishing`` update decides);
2. ``queued`` runs get their job if none is live (Redis was down at the
   API's enqueue, or lost its data);
3. ``running`` runs whose lease expired (the worker died) or whose wake
   time passed with no live job (a lost scheduled job) get their job again.

Steps 2 and 3 leave alone a run queued, or woken, less than ``grace_s``
ago: its job or poller is normally just about to take it, and asking
Redis about every such run would cost a busy worker more than the polls.

The job names are deterministic (:func:`core.queue.run_job_id`), so a job
that is still live is never doubled; the lease and fence make a job that
runs anyway harmless.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from redis.exceptions import RedisError
from sqlalchemy import and_, or_, select
from sqlalchemy.exc import SQLAlchemyError

from .errors import CoreError
from .forking import no_fork
from .models import JobRun, Post
from .queue import enqueue_run
from .services.publishing import start_publish
from .services.publishing_context import PipelineContext
from .timeutil import utcnow

log = logging.getLogger(__name__)
BATCH = 500


@dataclass
class SweepReport:
    started: list[str] = field(default_factory=list)  #: run ids created for due scheduled posts
    enqueued: list[str] = field(default_factory=list)  #: run ids whose job was (re)created


def sweep(ctx: PipelineContext, now: datetime | None = None, overdue_after_s: float = 30.0,
          grace_s: float = 0.0) -> SweepReport:
    """One pass; see the module docstring."""
    now = now or utcnow()
    report = SweepReport()
    for run in _start_due_posts(ctx, now):
        report.started.append(run.id)
    for run_id, fence, post_id in _runs_needing_a_job(ctx, now, now - timedelta(seconds=grace_s)):
        note = f"publish post {post_id} (run {run_id}): resumed by the sweeper"
        if enqueue_run(ctx.queue, run_id, fence, description=note, overdue_after_s=overdue_after_s):
            report.enqueued.append(run_id)
    return report


def _start_due_posts(ctx: PipelineContext, now: datetime) -> list[JobRun]:
    with ctx.sessions() as session:
        due = list(session.execute(select(Post.id, Post.workspace_id).where(
            Post.status == "scheduled", Post.scheduled_at <= now).limit(BATCH)))
    runs = []
    for post_id, workspace_id in due:
        with ctx.sessions() as session:
            try:
                runs.append(start_publish(session, ctx.channels, ctx.config, workspace_id, post_id,
                                          from_states=("scheduled",)))
            except CoreError as error:  # another sweeper won, or the post no longer validates
                session.rollback()
                _fail_unpublishable(ctx, post_id, error)
    return runs


def _fail_unpublishable(ctx: PipelineContext, post_id: str, error: CoreError) -> None:
    """A due post whose channel rules now reject it fails (with an event) instead of retrying forever."""
    if error.status != 422:
        return
    from sqlalchemy import update

    from .services.events import record_event

    with ctx.sessions() as session:
        moved = session.execute(update(Post).where(Post.id == post_id, Post.status == "scheduled")
                                .values(status="failed", updated_at=utcnow())
                                .execution_options(synchronize_session=False)).rowcount  # type: ignore[attr-defined]
        post = session.get(Post, post_id)
        if moved == 1 and post is not None:
            record_event(session, post.workspace_id, "post.failed", {
                "postId": post.id, "channel": post.channel, "status": "failed", "externalId": None,
                "nextAction": None, "publishResults": [], "error": {"code": error.code, "message": error.detail}})
        session.commit()


def _runs_needing_a_job(ctx: PipelineContext, now: datetime, settled: datetime) -> list[tuple[str, int, str]]:
    """Runs that may have lost their job: queued, or woken, before ``settled``; or with an expired lease."""
    expired = and_(JobRun.lease_owner.is_not(None), JobRun.lease_expires_at < now)
    woken = and_(JobRun.lease_owner.is_(None),
                 or_(JobRun.next_wake_at.is_(None), JobRun.next_wake_at <= settled))
    query = select(JobRun.id, JobRun.fence, JobRun.post_id).where(or_(
        and_(JobRun.status == "queued", JobRun.created_at <= settled),
        and_(JobRun.status == "running", or_(expired, woken)),
    )).order_by(JobRun.created_at).limit(BATCH)
    with ctx.sessions() as session:
        return [(r, int(f), p) for r, f, p in session.execute(query)]


class Sweeper(threading.Thread):
    """Runs :func:`sweep`, then each of ``chores``, every ``interval_s`` until :meth:`stop`.

    Errors are logged, never fatal: the next pass tries again.
    """

    def __init__(self, ctx: PipelineContext, interval_s: float, chores: Sequence[Callable[[], object]] = ()) -> None:
        super().__init__(name="markaestro-sweeper", daemon=True)
        self.ctx, self.interval_s, self.chores = ctx, interval_s, tuple(chores)
        self._stopped = threading.Event()

    def run(self) -> None:
        while not self._stopped.is_set():
            self.run_once()
            self._stopped.wait(self.interval_s)

    def run_once(self) -> SweepReport | None:
        """One pass: the sweep, then the chores; forks of this process wait for it (:mod:`core.forking`)."""
        with no_fork():
            report = self._sweep()
            for chore in self.chores:
                try:
                    chore()
                except (RedisError, SQLAlchemyError) as error:
                    log.warning("%s failed (%s); retrying next pass", getattr(chore, "__name__", chore),
                                type(error).__name__)
        return report

    def _sweep(self) -> SweepReport | None:
        try:
            report = sweep(self.ctx, overdue_after_s=max(3 * self.interval_s, 10.0), grace_s=2 * self.interval_s)
        except (RedisError, SQLAlchemyError) as error:
            log.warning("sweep failed (%s); retrying in %.1f s", type(error).__name__, self.interval_s)
            return None
        if report.started or report.enqueued:
            log.info("sweeper started %d scheduled posts, enqueued %d runs", len(report.started),
                     len(report.enqueued))
        return report

    def stop(self) -> None:
        self._stopped.set()


def sweep_interval(config: Mapping[str, Any]) -> float:
    """``MARKAESTRO_SWEEP_INTERVAL_SECONDS`` (default 5 s)."""
    value = config.get("MARKAESTRO_SWEEP_INTERVAL_SECONDS")
    return float(value) if value not in (None, "") else 5.0
