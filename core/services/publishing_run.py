"""One job's work on a run: claim it, advance every due target, then finish or sleep.

A run never holds a worker while a platform works: when targets wait, the
lease is released with ``next_wake_at`` (the earliest ``next_check_at``)
and the run's next job is scheduled for then. The sweeper re-creates that
job from ``next_wake_at`` if Redis lost it.

A ``publish`` run that ends with handed-off targets to watch opens a
``watch`` run in the same transaction; the same job function works both
kinds (:mod:`.publishing_watch`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..models import JobRun, Post, PublishTarget
from ..timeutil import utcnow
from .publishing_context import PipelineContext
from .publishing_finish import finish_run, post_targets
from .publishing_lease import Claimed, Lease, LeaseLost, claim
from .publishing_steps import ACTIVE_TARGET_STATES, Close, advance_target
from .publishing_watch import finish_watch_run, open_watch_run, wake_time, watch_target, watched

log = logging.getLogger(__name__)


def process_run(ctx: PipelineContext, run_id: str, owner: str) -> str:
    """Do the run's due work; return what happened (for the job's result and logs).

    The claim and the read of the targets to work share one transaction.
    """
    with ctx.sessions() as session:
        claimed = claim(session, run_id, owner, ctx.settings.lease_s)
        if claimed is None:
            return "not claimed: owned by another worker, finished, or not due"
        targets = post_targets(session, claimed.post_id)
        session.commit()
    return work_claimed(ctx, claimed, targets)


def work_claimed(ctx: PipelineContext, claimed: Claimed, targets: list[PublishTarget]) -> str:
    """Advance the claimed run's due ``targets`` (read when it was claimed), then finish or sleep."""
    lease = claimed.lease
    try:
        if claimed.kind == "watch":
            for target in watched(targets):
                watch_target(ctx, lease, target.id)
            return _settle_watch(ctx, lease)
        active = [t.id for t in targets if t.status in ACTIVE_TARGET_STATES]
        for position, target_id in enumerate(active):
            last = position == len(active) - 1
            finished = advance_target(ctx, lease, target_id, close=_finisher(ctx, lease) if last else None)
            if finished is not None:
                return finished
        return _settle(ctx, lease)
    except LeaseLost:
        log.warning("run %s: lease lost (fence %s); stopping without writing", lease.run_id, lease.fence)
        return "lease lost"


def _finisher(ctx: PipelineContext, lease: Lease) -> Close:
    """Settle the run (finish it, or release it until its next check) inside the last result transaction."""
    def close(session: Session) -> tuple[str, Callable[[], None]]:
        return _settle_in(ctx, lease, session)

    return close


def _settle(ctx: PipelineContext, lease: Lease) -> str:
    """Finish the run when every target is terminal; otherwise sleep until the next check."""
    with ctx.sessions() as session:
        lease.guard(session)
        summary, after_commit = _settle_in(ctx, lease, session)
        session.commit()
    after_commit()
    return summary


def _settle_in(ctx: PipelineContext, lease: Lease, session: Session) -> tuple[str, Callable[[], None]]:
    """:func:`_settle` inside the caller's guarded transaction; what to do once it committed."""
    run, post = session.execute(select(JobRun, Post).join(Post, Post.id == JobRun.post_id)
                                .where(JobRun.id == lease.run_id)).one()
    return settle_loaded(ctx, run, post, post_targets(session, post.id), session)


def settle_loaded(ctx: PipelineContext, run: JobRun, post: Post, targets: list[PublishTarget],
                  session: Session) -> tuple[str, Callable[[], None]]:
    """Finish ``run`` when every one of its ``targets`` is terminal, else release it until the next check.

    Runs inside a transaction that holds the run's lease (guarded); the
    release is written through ``run``'s attributes. Returns the summary
    and what to do once the transaction committed (schedule the wake-up or
    the watch run).
    """
    active = [t for t in targets if t.status in ACTIVE_TARGET_STATES]
    if not active:
        finish_run(session, run, post, targets)
        watch = open_watch_run(session, post, targets)

        def schedule_watch() -> None:
            if watch is not None:
                assert watch.next_wake_at is not None
                ctx.schedule(watch.id, watch.fence, watch.next_wake_at, _watch_note(post.id, watch.id))

        return f"finished: {run.status}", schedule_watch
    wake = _wake_time(active)
    note = (f"publish post {post.id} (run {run.id}): next check of "
            f"{', '.join(f'{t.target} ({t.phase})' for t in active)}")
    run.lease_owner, run.lease_expires_at, run.next_wake_at = None, None, wake
    fence = run.fence
    return f"waiting until {wake.isoformat()}", lambda: ctx.schedule(run.id, fence, wake, note)


def _wake_time(active: list[PublishTarget]) -> datetime:
    now = utcnow()
    return min((t.next_check_at or now for t in active), default=now)


def _settle_watch(ctx: PipelineContext, lease: Lease) -> str:
    """End the watch run when nothing is watched any more; otherwise sleep until the next check."""
    with ctx.sessions() as session:
        lease.guard(session)
        run = session.get(JobRun, lease.run_id)
        assert run is not None
        pending = watched(post_targets(session, run.post_id))
        if not pending:
            finish_watch_run(session, run)
            session.commit()
            return f"watch finished: {run.status}"
        wake = wake_time(pending)
        lease.release(session, wake_at=wake)
        session.commit()
    ctx.schedule(lease.run_id, lease.fence, wake, _watch_note(run.post_id, run.id))
    return f"watching until {wake.isoformat()}"


def _watch_note(post_id: str, run_id: str) -> str:
    return f"watch post {post_id} (run {run_id}): next check of the handed-off post"
