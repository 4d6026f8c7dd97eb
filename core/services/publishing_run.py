"""One job's work on a run: claim it, advance every due target, then finish or sleep.

A run never holds a worker while a platform works: when targets wait, the
lease is released with ``next_wake_at`` (the earliest ``next_check_at``)
and the run's next job is scheduled for then. The sweeper re-creates that
job from ``next_wake_at`` if Redis lost it.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select

from ..models import JobRun, Post, PublishTarget
from ..timeutil import utcnow
from .publishing_context import PipelineContext
from .publishing_finish import finish_run, post_targets
from .publishing_lease import Lease, LeaseLost, claim
from .publishing_steps import ACTIVE_TARGET_STATES, advance_target

log = logging.getLogger(__name__)


def process_run(ctx: PipelineContext, run_id: str, owner: str) -> str:
    """Do the run's due work; return what happened (for the job's result and logs)."""
    with ctx.sessions() as session:
        lease = claim(session, run_id, owner, ctx.settings.lease_s)
    if lease is None:
        return "not claimed: owned by another worker, finished, or not due"
    try:
        for target_id in _due_targets(ctx, lease):
            advance_target(ctx, lease, target_id)
        return _settle(ctx, lease)
    except LeaseLost:
        log.warning("run %s: lease lost (fence %s); stopping without writing", run_id, lease.fence)
        return "lease lost"


def _due_targets(ctx: PipelineContext, lease: Lease) -> list[int]:
    with ctx.sessions() as session:
        lease.guard(session)
        post_id = session.scalar(select(JobRun.post_id).where(JobRun.id == lease.run_id))
        ids = [t.id for t in post_targets(session, str(post_id)) if t.status in ACTIVE_TARGET_STATES]
        session.commit()
        return ids


def _settle(ctx: PipelineContext, lease: Lease) -> str:
    """Finish the run when every target is terminal; otherwise sleep until the next check."""
    with ctx.sessions() as session:
        lease.guard(session)
        run = session.get(JobRun, lease.run_id)
        assert run is not None
        post = session.get(Post, run.post_id)
        assert post is not None
        targets = post_targets(session, post.id)
        active = [t for t in targets if t.status in ACTIVE_TARGET_STATES]
        if not active:
            finish_run(session, run, post, targets)
            session.commit()
            return f"finished: {run.status}"
        wake = _wake_time(active)
        note = (f"publish post {post.id} (run {run.id}): next check of "
                f"{', '.join(f'{t.target} ({t.phase})' for t in active)}")
        lease.release(session, wake_at=wake)
        session.commit()
    ctx.schedule(lease.run_id, lease.fence, wake, note)
    return f"waiting until {wake.isoformat()}"


def _wake_time(active: list[PublishTarget]) -> datetime:
    now = utcnow()
    return min((t.next_check_at or now for t in active), default=now)
