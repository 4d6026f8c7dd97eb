"""Who may work on a run: a lease (owner + expiry) and a fencing counter.

A job claims a run by incrementing ``fence`` under a conditional ``UPDATE``
(free or expired lease, work due). Every later transaction of that job
starts with :meth:`Lease.guard`, which renews the lease only while
``fence`` and ``lease_owner`` are still the job's: a zombie whose lease was
taken over (an orphaned work horse, reliability.md §0) gets
:class:`LeaseLost` and stops before its next platform call.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, func, or_, select, update
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

    def release(self, session: Session, *, wake_at: datetime | None) -> None:
        """Give the run up (still ``running``) until ``wake_at``; guarded like any write."""
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
    claimed = _claim_where(session, JobRun.id == run_id, owner, seconds)
    if not claimed:
        session.rollback()
        return None
    return claimed[0]


def claim_many(session: Session, run_ids: Sequence[str], owner: str, seconds: float) -> list[Claimed]:
    """:func:`claim` for several runs at once, all under ``owner``; the ones taken (maybe none).

    On PostgreSQL the candidates are locked first with ``FOR UPDATE SKIP
    LOCKED``, so two claimers of overlapping batches never wait on (or
    deadlock over) each other's rows: each takes what the other has not
    locked. SQLite has a single writer and needs no row locks. Leaves the
    transaction open for the caller to read more and commit.
    """
    now = utcnow()
    free = (select(JobRun.id).where(JobRun.id.in_(list(run_ids)), *_claimable(now))
            .order_by(JobRun.id).with_for_update(skip_locked=True))
    locked = list(session.scalars(free))
    if not locked:
        return []
    return _claim_where(session, JobRun.id.in_(locked), owner, seconds)


def _claimable(now: datetime) -> tuple[ColumnElement[bool], ...]:
    return (JobRun.status.in_(ACTIVE_RUN_STATES),
            or_(JobRun.lease_owner.is_(None), JobRun.lease_expires_at < now),
            or_(JobRun.next_wake_at.is_(None), JobRun.next_wake_at <= now))


def _claim_where(session: Session, which: ColumnElement[bool], owner: str, seconds: float) -> list[Claimed]:
    now = utcnow()
    rows = session.execute(
        update(JobRun)
        .where(which, *_claimable(now))
        .values(fence=JobRun.fence + 1, lease_owner=owner, attempts=JobRun.attempts + 1,
                lease_expires_at=now + timedelta(seconds=seconds), status="running", next_wake_at=None,
                started_at=func.coalesce(JobRun.started_at, now))
        .returning(JobRun.id, JobRun.fence, JobRun.kind, JobRun.post_id)
        .execution_options(synchronize_session=False)
    ).all()
    return [Claimed(Lease(str(run_id), owner, int(fence), seconds), str(kind), str(post_id))
            for run_id, fence, kind, post_id in rows]


def guard_many(session: Session, leases: Sequence[Lease]) -> set[str]:
    """:meth:`Lease.guard` for several leases in one ``UPDATE``; the ids of the runs still held.

    The caller skips every run not returned (its lease was lost) and
    writes nothing for it.
    """
    if not leases:
        return set()
    seconds = max(lease.seconds for lease in leases)
    fences = {lease.run_id: lease.fence for lease in leases}
    owners = {lease.owner for lease in leases}
    rows = session.execute(
        update(JobRun)
        .where(JobRun.id.in_(list(fences)), JobRun.lease_owner.in_(owners))
        .values(lease_expires_at=utcnow() + timedelta(seconds=seconds))
        .returning(JobRun.id, JobRun.fence, JobRun.lease_owner)
        .execution_options(synchronize_session=False)
    ).all()
    held = {lease.run_id: lease.owner for lease in leases}
    return {str(run_id) for run_id, fence, owner in rows if fences[run_id] == fence and held[run_id] == owner}
