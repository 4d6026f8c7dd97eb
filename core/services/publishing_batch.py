"""Working a round of claimed runs together: one claim, one read, the calls side by side, grouped writes.

A poller (:func:`core.jobs.poll_due`) hands each round of due runs to
:func:`work_runs`, and a run's job its backlog of fresh runs. For the
publish runs of a round:

1. one transaction claims the runs (:func:`~.publishing_lease.claim_many`),
   reads their targets with destinations and posts in one query and decides
   each target's due call (:func:`~.publishing_steps.decide`, which fails a
   target past its deadline, no longer valid or without usable credentials,
   and writes a creating step's intent); it commits before any call;
2. the calls are made in up to ``ctx.settings.concurrency`` threads, with
   no transaction open;
3. as calls finish, the main thread records them in group commits
   (:func:`_record`): one transaction renews the leases of the runs whose
   calls just finished (:func:`~.publishing_lease.guard_many`), records
   each result (:func:`~.publishing_steps.record_result`; a creating call's
   platform ids go into the next group commit, so they are committed as
   soon as the transaction before it is done) and finishes
   each run whose calls are all recorded, or releases it until its next
   check (:func:`~.publishing_run.settle_loaded`): the rules of a run's own
   job. Under load the groups grow, so the writes cost a few transactions
   per round rather than two per call; a round of polls only is written
   once.

A run whose lease was lost in between is skipped without writing. A run
with a target due again at once (a step that continues right away), and a
watch run, is worked on its own with the lease it already holds
(:func:`~.publishing_run.work_claimed`).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
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
Done = tuple[Claimed, Call, Result]
Runs = list[tuple[Claimed, list[PublishTarget]]]
T = TypeVar("T")
R = TypeVar("R")


@dataclass
class _Round:
    """What step 1 decided: the round's publish runs and their calls, and the runs worked on their own."""

    runs: dict[str, Claimed] = field(default_factory=dict)
    calls: list[tuple[Claimed, Call]] = field(default_factory=list)
    one_by_one: Runs = field(default_factory=list)
    notices: list[Finished | None] = field(default_factory=list)


def work_runs(ctx: PipelineContext, run_ids: Sequence[str], owner: str,
              on_claimed: Callable[[list[Claimed]], object] | None = None) -> int:
    """Claim what can be claimed of ``run_ids`` under ``owner`` and work it; how many runs were claimed.

    ``ctx``'s sessions must be safe to share between threads (pooled, not
    bound to one connection): the calls, and the runs worked on their own,
    go side by side in up to ``ctx.settings.concurrency`` threads.
    ``on_claimed`` is called with the claims right after they committed,
    before any platform call.
    """
    with job_context(ctx) as main:
        with main.sessions() as session:
            claims = claim_many(session, run_ids, owner, ctx.settings.lease_s)
            batch = _plan(main, session, claims)
            session.commit()
        if on_claimed is not None:
            on_claimed(claims)
        _notify(main, batch.notices)
        again = _call_and_record(ctx, main, batch)
    concurrently(ctx, [*batch.one_by_one, *again], lambda c, run: work_claimed(c, *run))
    return len(claims)


def concurrently(ctx: PipelineContext, items: Sequence[T], work: Callable[[PipelineContext, T], R]) -> list[R]:
    """``work(ctx, item)`` for every item, in up to ``ctx.settings.concurrency`` threads; results in order.

    Each piece of work runs its transactions on a connection of its own
    (:func:`job_context`).
    """
    threads = min(ctx.settings.concurrency, len(items))
    if threads <= 1:
        with job_context(ctx) as mine:
            return [work(mine, item) for item in items]

    def task(item: T) -> R:
        with job_context(ctx) as mine:
            return work(mine, item)

    with ThreadPoolExecutor(threads, thread_name_prefix="markaestro-run") as pool:
        return list(pool.map(task, items))


def _plan(ctx: PipelineContext, session: Session, claims: list[Claimed]) -> _Round:
    """Decide the due call of every active target of the claimed publish runs; set the rest aside.

    Targets are decided in the order of their destinations, so two rounds
    refreshing the same destinations' credentials lock those rows in the
    same order (:func:`~.publishing_credentials.credentials_for`) and never
    deadlock.
    """
    batch = _Round()
    targets = _targets_of(session, [c.post_id for c in claims])
    active: list[tuple[Claimed, PublishTarget]] = []
    for claimed in claims:
        mine = targets.get(claimed.post_id, [])
        if claimed.kind != "publish":
            batch.one_by_one.append((claimed, mine))
            continue
        batch.runs[claimed.lease.run_id] = claimed
        active += [(claimed, t) for t in mine if t.status in ACTIVE_TARGET_STATES]
    for claimed, target in sorted(active, key=lambda pair: pair[1].destination_id):
        decided = decide(ctx, claimed.lease, session, target)
        if isinstance(decided, Call):
            batch.calls.append((claimed, decided))
        else:
            batch.notices.append(decided)
    _attach_await_steps(session, batch)
    return batch


def _attach_await_steps(session: Session, batch: _Round) -> None:
    """Give each poll its target's running (await) step, read for the whole round in one query."""
    polls = [(claimed.lease.run_id, call) for claimed, call in batch.calls if call.kind == "poll"]
    if not polls:
        return
    rows = session.execute(select(JobStep.run_id, JobStep.target, JobStep.id)
                           .where(JobStep.run_id.in_({run_id for run_id, _ in polls}), JobStep.status == "running")
                           .order_by(JobStep.id))
    open_steps = {(run_id, target): step_id for run_id, target, step_id in rows}  # the newest wins
    for run_id, call in polls:
        target = session.get(PublishTarget, call.target_id)  # loaded by the round's query
        assert target is not None
        call.step_id = open_steps.get((run_id, target.target))


def _call_and_record(ctx: PipelineContext, main: PipelineContext, batch: _Round) -> Runs:
    """Steps 2 and 3: make the round's calls side by side, recording them as they finish.

    Runs without a call are settled first. A finished creating (or
    reconcile) call is recorded in the next group commit, with whatever
    else finished by then; polls create nothing, so theirs wait for the next
    group or the round's end. Returns the runs with a target due again at once.
    """
    outstanding = Counter(claimed.lease.run_id for claimed, _ in batch.calls)
    idle = {run_id for run_id in batch.runs if not outstanding[run_id]}
    again = _record(main, batch, [], idle) if idle else []
    if not batch.calls:
        return again
    threads = max(1, min(ctx.settings.concurrency, len(batch.calls)))
    ready: list[Done] = []
    with ThreadPoolExecutor(threads, thread_name_prefix="markaestro-call") as pool:
        pending: dict[Future[Result], tuple[Claimed, Call]] = {
            pool.submit(invoke_catching, ctx, claimed.lease, call): (claimed, call) for claimed, call in batch.calls}
        while pending:
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            ready += [(*pending.pop(future), future.result()) for future in finished]
            if pending and all(call.kind == "poll" for _, call, _ in ready):
                continue
            outstanding.subtract(claimed.lease.run_id for claimed, _, _ in ready)
            complete = {claimed.lease.run_id for claimed, _, _ in ready if not outstanding[claimed.lease.run_id]}
            again += _record(main, batch, ready, complete)
            ready = []
    return again


def _record(ctx: PipelineContext, batch: _Round, done: list[Done], complete: set[str]) -> Runs:
    """Record ``done`` calls and settle the ``complete`` runs in one transaction; the runs due again at once."""
    leases = {claimed.lease.run_id: claimed.lease for claimed, _, _ in done}
    leases.update((run_id, batch.runs[run_id].lease) for run_id in complete)
    again: Runs = []
    after_commit: list[Callable[[], None]] = []
    with ctx.sessions() as session:
        held = guard_many(session, list(leases.values()))
        targets = _targets_of(session, [batch.runs[run_id].post_id for run_id in held])
        steps = [call.step_id for claimed, call, _ in done if call.step_id is not None]
        if steps:
            hold(session, session.scalars(select(JobStep).where(JobStep.id.in_(steps))))
        notices = [record_result(ctx, claimed.lease, session, call, result)
                   for claimed, call, result in done if claimed.lease.run_id in held]
        for run_id, (run, post) in _runs_with_posts(session, held & complete).items():
            mine = targets.get(post.id, [])
            if any(due_now(t) for t in mine):
                again.append((batch.runs[run_id], mine))
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
    """The runs, each with its post (already loaded with the targets by :func:`_targets_of`)."""
    if not run_ids:
        return {}
    runs = session.scalars(select(JobRun).where(JobRun.id.in_(list(run_ids))))
    return {run.id: (run, session.get_one(Post, run.post_id)) for run in runs}


def _notify(ctx: PipelineContext, notices: list[Finished | None]) -> None:
    for notice in notices:
        notify_finished(ctx.channels, notice)
