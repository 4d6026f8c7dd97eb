"""Working a round of due runs together: one claim, one read, the polls, one write.

A poller (:func:`core.jobs.poll_due`) hands each round of due runs to
:func:`work_runs`. Most of them, while platforms process, are publish runs
that only wait: every active target is in phase ``poll`` with no step in
flight. ``poll_publish`` creates nothing and may be repeated, so nothing
has to be committed between those calls:

1. one transaction claims the runs (:func:`~.publishing_lease.claim_many`),
   reads their targets with destinations and posts in one query and decides
   each due poll (:func:`~.publishing_steps.decide`, which also fails a
   target past its deadline or without usable credentials);
2. the polls are made, with no transaction open;
3. one transaction renews every lease (:func:`~.publishing_lease.guard_many`),
   records every result (:func:`~.publishing_steps.record_result`) and
   finishes each run or releases it until its next check
   (:func:`~.publishing_run.settle_loaded`): the rules of a run's own job.

A run whose lease was lost in between is skipped without writing. Every
other run claimed in the round (a fresh run, a run with a creating step to
make or a target due again at once, a watch run) is worked on its own with
the lease it already holds (:func:`~.publishing_run.work_claimed`), because
a creating step must commit its platform ids right after its call.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from plugins.types import PublishOutcome

from ..db import hold
from ..models import Destination, JobRun, JobStep, Post, PublishTarget
from .publishing_context import PipelineContext, job_context
from .publishing_lease import Claimed, claim_many, guard_many
from .publishing_notify import Finished, notify_finished
from .publishing_run import settle_loaded, work_claimed
from .publishing_steps import ACTIVE_TARGET_STATES, Call, decide, due_now, invoke_catching, record_result

Result = PublishOutcome | Exception | None
T = TypeVar("T")
R = TypeVar("R")


@dataclass
class _Round:
    """What step 1 decided: the runs to poll together (with their calls) and the rest."""

    polls: dict[str, tuple[Claimed, list[Call]]] = field(default_factory=dict)
    one_by_one: list[tuple[Claimed, list[PublishTarget]]] = field(default_factory=list)
    notices: list[Finished | None] = field(default_factory=list)


def work_runs(ctx: PipelineContext, run_ids: Sequence[str], owner: str,
              on_claimed: Callable[[list[Claimed]], object] | None = None) -> int:
    """Claim what can be claimed of ``run_ids`` under ``owner`` and work it; how many runs were claimed.

    ``ctx``'s sessions must be safe to share between threads (pooled, not
    bound to one connection): the polls, and the runs worked on their own,
    go side by side in up to ``ctx.settings.concurrency`` threads
    (:func:`concurrently`). ``on_claimed`` is called with the claims right
    after they committed, before any platform call.
    """
    with job_context(ctx) as main:
        with main.sessions() as session:
            claims = claim_many(session, run_ids, owner, ctx.settings.lease_s)
            batch = _plan(main, session, claims)
            session.commit()
        if on_claimed is not None:
            on_claimed(claims)
        _notify(main, batch.notices)
        polls = [(claimed.lease, call) for claimed, calls in batch.polls.values() for call in calls]
        outcomes = concurrently(ctx, polls, lambda c, poll: invoke_catching(c, *poll), own_connection=False)
        results: dict[str, list[tuple[Call, Result]]] = {run_id: [] for run_id in batch.polls}
        for (lease, call), outcome in zip(polls, outcomes, strict=True):
            results[lease.run_id].append((call, outcome))
        again = _record(main, batch, results)
    concurrently(ctx, [*batch.one_by_one, *again], lambda c, run: work_claimed(c, *run))
    return len(claims)


def concurrently(ctx: PipelineContext, items: Sequence[T], work: Callable[[PipelineContext, T], R], *,
                 own_connection: bool = True) -> list[R]:
    """``work(ctx, item)`` for every item, in up to ``ctx.settings.concurrency`` threads; results in order.

    With ``own_connection`` each piece of work runs its transactions on a
    connection of its own (:func:`job_context`); otherwise it gets the
    pooled ``ctx`` (for work that rarely touches the database, like a poll).
    """
    threads = min(ctx.settings.concurrency, len(items))
    if threads <= 1:
        with job_context(ctx) if own_connection else nullcontext(ctx) as mine:
            return [work(mine, item) for item in items]

    def task(item: T) -> R:
        if not own_connection:
            return work(ctx, item)
        with job_context(ctx) as mine:
            return work(mine, item)

    with ThreadPoolExecutor(threads, thread_name_prefix="markaestro-run") as pool:
        return list(pool.map(task, items))


def _plan(ctx: PipelineContext, session: Session, claims: list[Claimed]) -> _Round:
    """Sort the claimed runs into those polled together (deciding their calls) and the rest."""
    batch = _Round()
    targets = _targets_of(session, [c.post_id for c in claims])
    for claimed in claims:
        mine = targets.get(claimed.post_id, [])
        if not _only_waiting(claimed, mine):
            batch.one_by_one.append((claimed, mine))
            continue
        calls = []
        for target in (t for t in mine if t.status in ACTIVE_TARGET_STATES):
            decided = decide(ctx, claimed.lease, session, target)
            if isinstance(decided, Call):
                calls.append(decided)
            else:
                batch.notices.append(decided)
        batch.polls[claimed.lease.run_id] = (claimed, calls)
    _attach_await_steps(session, batch)
    return batch


def _attach_await_steps(session: Session, batch: _Round) -> None:
    """Give each poll call its target's running (await) step, read for the whole round in one query."""
    if not batch.polls:
        return
    rows = session.execute(select(JobStep.run_id, JobStep.target, JobStep.id)
                           .where(JobStep.run_id.in_(list(batch.polls)), JobStep.status == "running")
                           .order_by(JobStep.id))
    open_steps = {(run_id, target): step_id for run_id, target, step_id in rows}  # the newest wins
    for run_id, (_, calls) in batch.polls.items():
        for call in calls:
            target = session.get(PublishTarget, call.target_id)  # loaded by the round's query
            assert target is not None
            call.step_id = open_steps.get((run_id, target.target))


def _only_waiting(claimed: Claimed, targets: list[PublishTarget]) -> bool:
    """A publish run whose active targets all wait on the platform (polls only: nothing is created)."""
    active = [t for t in targets if t.status in ACTIVE_TARGET_STATES]
    return (claimed.kind == "publish" and bool(active)
            and all(t.phase == "poll" and not t.step_in_flight for t in active))


def _record(ctx: PipelineContext, batch: _Round,
            results: dict[str, list[tuple[Call, Result]]]) -> list[tuple[Claimed, list[PublishTarget]]]:
    """Step 3: record the polls' results and settle each run; the runs with a target due again at once."""
    if not batch.polls:  # a round of fresh runs only: nothing was polled
        return []
    again: list[tuple[Claimed, list[PublishTarget]]] = []
    after_commit: list[Callable[[], None]] = []
    notices: list[Finished | None] = []
    with ctx.sessions() as session:
        held = guard_many(session, [claimed.lease for claimed, _ in batch.polls.values()])
        runs = _runs_with_posts(session, held)
        targets = _targets_of(session, [post.id for _, post in runs.values()])
        steps = [call.step_id for run_id in held for call, _ in results[run_id] if call.step_id is not None]
        hold(session, session.scalars(select(JobStep).where(JobStep.id.in_(steps))))  # for close_step
        for run_id in held:
            claimed = batch.polls[run_id][0]
            notices += [record_result(ctx, claimed.lease, session, call, result) for call, result in results[run_id]]
            run, post = runs[run_id]
            mine = targets.get(post.id, [])
            if any(due_now(t) for t in mine):
                again.append((claimed, mine))
                continue
            after_commit.append(settle_loaded(ctx, run, post, mine, session)[1])
        session.commit()
    _notify(ctx, notices)
    for scheduled in after_commit:
        scheduled()
    return again


def _targets_of(session: Session, post_ids: Sequence[str]) -> dict[str, list[PublishTarget]]:
    """The posts' targets in publish order, their destinations and posts loaded by the same query."""
    if not post_ids:
        return {}
    rows = session.execute(select(PublishTarget, Destination, Post)
                           .join(Destination, Destination.id == PublishTarget.destination_id)
                           .join(Post, Post.id == PublishTarget.post_id)
                           .where(PublishTarget.post_id.in_(list(set(post_ids))))
                           .order_by(PublishTarget.post_id, PublishTarget.position, PublishTarget.id))
    by_post: dict[str, list[PublishTarget]] = defaultdict(list)
    for row in rows:
        hold(session, row)
        by_post[row[0].post_id].append(row[0])
    return by_post


def _runs_with_posts(session: Session, run_ids: set[str]) -> dict[str, tuple[JobRun, Post]]:
    if not run_ids:
        return {}
    rows = session.execute(select(JobRun, Post).join(Post, Post.id == JobRun.post_id)
                           .where(JobRun.id.in_(list(run_ids)))).all()
    return {run.id: (run, post) for run, post in rows}


def _notify(ctx: PipelineContext, notices: list[Finished | None]) -> None:
    for notice in notices:
        notify_finished(ctx.channels, notice)
