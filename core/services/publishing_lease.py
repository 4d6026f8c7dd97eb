"""Who may work on a run: a lease (owner + expiry) and a fencing counter.

A job claims a run by incrementing ``fence`` under a conditional ``UPDATE``
(free or expired lease, work due). Every later transaction of that job
starts with :meth:`Lease.guard`, which renews the lease only while
``fence`` and ``lease_owner`` are still the job's: a zombie whose lease was
taken over (an orphaned work horse, reliability.md §0) gets
:class:`LeaseLost` and stops before its next platform call.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, or_, update
from sqlalchemy.orm import Session

from ..models import JobRun
from ..timeutil import utcnow

ACTIVE_RUN_STATES = ("queued", "running")


class LeaseLost(Exception):
    """Another worker owns the run now; stop without writing anything."""


@dataclass(frozen=True)
class Lease:
    run_id: str
    owner: str
    fence: int
    seconds: float

    def guard(self, session: Session) -> None:
        """Renew the lease inside the caller's transaction, or raise :class:`LeaseLost`.

        On PostgreSQL the ``UPDATE`` row-locks the run until the caller
        commits, so no other holder can interleave its writes.
        """
        renewed = session.execute(
            update(JobRun)
            .where(JobRun.id == self.run_id, JobRun.fence == self.fence, JobRun.lease_owner == self.owner)
            .values(lease_expires_at=utcnow() + timedelta(seconds=self.seconds))
            .execution_options(synchronize_session=False)
        ).rowcount  # type: ignore[attr-defined]
        if renewed != 1:
            session.rollback()
            raise LeaseLost(self.run_id)

    def release(self, session: Session, *, wake_at: datetime | None, guarded: bool = False) -> None:
        """Give the run up (still ``running``) until ``wake_at``; guarded like any write.

        ``guarded``: the caller's transaction already began with :meth:`guard`.
        """
        if not guarded:
            self.guard(session)
        session.execute(
            update(JobRun).where(JobRun.id == self.run_id)
            .values(lease_owner=None, lease_expires_at=None, next_wake_at=wake_at)
            .execution_options(synchronize_session=False)
        )


@dataclass(frozen=True)
class Claimed:
    """A claim's lease with what the claiming ``UPDATE`` returned about the run."""

    lease: Lease
    kind: str
    post_id: str


def claim(session: Session, run_id: str, owner: str, seconds: float) -> Claimed | None:
    """Take the run if it is active, unowned (or its lease expired) and its work is due.

    One ``UPDATE ... RETURNING`` (fence, ``started_at`` on the first claim,
    the run's kind and post). Leaves the transaction open for the caller to
    read more and commit; rolls back and returns ``None`` when another
    worker holds the run or nothing is due.
    """
    now = utcnow()
    row = session.execute(
        update(JobRun)
        .where(JobRun.id == run_id, JobRun.status.in_(ACTIVE_RUN_STATES),
               or_(JobRun.lease_owner.is_(None), JobRun.lease_expires_at < now),
               or_(JobRun.next_wake_at.is_(None), JobRun.next_wake_at <= now))
        .values(fence=JobRun.fence + 1, lease_owner=owner, attempts=JobRun.attempts + 1,
                lease_expires_at=now + timedelta(seconds=seconds), status="running", next_wake_at=None,
                started_at=func.coalesce(JobRun.started_at, now))
        .returning(JobRun.fence, JobRun.kind, JobRun.post_id)
        .execution_options(synchronize_session=False)
    ).first()
    if row is None:
        session.rollback()
        return None
    fence, kind, post_id = row
    return Claimed(Lease(run_id, owner, int(fence), seconds), str(kind), str(post_id))
