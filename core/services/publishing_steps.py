"""The step machine of one target: intent, plugin call, checkpoint.

Each turn loads the target in a guarded transaction and decides the call:

- ``step_in_flight`` set: the previous ``publish_step`` may have gone
  through. Repeat it only if the last ``CONTINUE`` said ``retry_safe``;
  otherwise ask ``reconcile_publish`` (``None`` → ``needs_reconcile``).
- ``phase == "poll"``: ``poll_publish`` (creates nothing; free to repeat).
- otherwise: commit the intent (``step_in_flight`` + a running ``JobStep``)
  and call ``publish_step``. Before a target's first step the post is
  validated again (spec §2.5): violations fail the target with
  ``validation_failed`` and the platform is never called.

The outcome, or the error, is committed right after the call. No plugin
call happens inside a database transaction, and none without the intent
committed first. A target reaching a terminal state is reported to the
``publish_finished`` hook after that commit (:mod:`.publishing_notify`).
A handoff the channel asks to watch stays in phase ``watch`` for
:mod:`.publishing_watch`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from plugins.errors import (
    ChannelError,
    CredentialsExpired,
    OutcomeUnknown,
    PermanentChannelError,
    RateLimited,
    ReauthorizationRequired,
    TransientChannelError,
)
from plugins.manager import UnknownChannelError
from plugins.types import Capability, ChannelSpec, Credentials, Destination, Post, PublishOutcome, PublishState

from ..db import hold
from ..models import Destination as DestinationRow
from ..models import JobStep, PublishTarget
from ..models import Post as PostRow
from ..timeutil import utcnow
from . import convert
from .publishing_context import PipelineContext
from .publishing_credentials import (
    credentials_for,
    expiring,
    mark_needs_reauth,
    refresh_and_store,
    refresh_expiring,
)
from .publishing_lease import Lease
from .publishing_media import media_for, plugin_post_for
from .publishing_notify import Finished, finished_notice, notify_finished
from .publishing_targets import check_target

log = logging.getLogger(__name__)
ACTIVE_TARGET_STATES = ("pending", "publishing")
WATCH_PHASE = "watch"  #: a handed-off target whose creator's own publish is being watched
MAX_TURNS_PER_JOB = 50


@dataclass
class Call:
    """One plugin call to make, with everything it needs (no ORM rows)."""

    kind: str  # "step", "poll" or "reconcile"
    target_id: int
    spec: ChannelSpec
    destination: Destination
    destination_row_id: str
    post: Post
    handle: dict[str, Any]
    credentials: Credentials | None
    #: the open step the call belongs to: a step's intent, or (when the caller looked it up) a poll's await step
    step_id: int | None


#: ``close(session)`` inside the transaction recording a target's last result of this job: when the
#: whole run is done it finishes the run there and returns ``(summary, after_commit)``, else ``None``.
Close = Callable[[Session], "tuple[str, Callable[[], None]] | None"]


def advance_target(ctx: PipelineContext, lease: Lease, target_id: int, close: Close | None = None) -> str | None:
    """Take turns on the target until it is done or must wait.

    With ``close``, the transaction that records the target's last result
    also gives the run the chance to finish (one commit instead of two);
    returns ``close``'s summary when it did.
    """
    for _ in range(MAX_TURNS_PER_JOB):
        again, closed = _turn(ctx, lease, target_id, close)
        if closed is not None:
            summary, after_commit = closed
            after_commit()
            return summary
        if not again:
            return None
    return None


def _turn(ctx: PipelineContext, lease: Lease, target_id: int,
          close: Close | None) -> tuple[bool, tuple[str, Callable[[], None]] | None]:
    """One call on the target: whether another is due right away, and ``close``'s answer."""
    with ctx.sessions() as session:
        prepared = _prepare(ctx, lease, session, target_id)
    if not isinstance(prepared, Call):
        notify_finished(ctx.channels, prepared)
        return False, None
    call = prepared
    result = invoke_catching(ctx, lease, prepared)
    with ctx.sessions() as session:
        lease.guard(session)
        _preload_result(session, call)
        notice = record_result(ctx, lease, session, call, result)
        again = due_now(session.get(PublishTarget, call.target_id))
        closed = close(session) if close is not None and not again else None
        session.commit()
    notify_finished(ctx.channels, notice)
    return again, closed


def invoke_catching(ctx: PipelineContext, lease: Lease, call: Call) -> PublishOutcome | Exception | None:
    """:func:`invoke`, with any exception it raised returned instead (to be recorded on the target)."""
    try:
        return invoke(ctx, lease, call)
    except Exception as error:  # every failure is recorded on the target
        return error


def record_result(ctx: PipelineContext, lease: Lease, session: Session, call: Call,
                  result: PublishOutcome | Exception | None) -> Finished | None:
    """Record what :func:`invoke_catching` returned, in the caller's guarded transaction.

    Returns the notice when the target became terminal.
    """
    if isinstance(result, Exception):
        return _on_error(ctx, lease, session, call, result)
    return _apply(ctx, lease, session, call, result)


def due_now(target: PublishTarget | None) -> bool:
    """Whether ``target`` wants another turn now (saves a transaction that would find nothing to do)."""
    if target is None or target.status not in ACTIVE_TARGET_STATES:
        return False
    return target.next_check_at is None or target.next_check_at <= utcnow()


def _preload(session: Session, target_id: int) -> PublishTarget | None:
    """The target, with its destination and post loaded into the session in the same query."""
    row = session.execute(select(PublishTarget, DestinationRow, PostRow)
                          .join(DestinationRow, DestinationRow.id == PublishTarget.destination_id)
                          .join(PostRow, PostRow.id == PublishTarget.post_id)
                          .where(PublishTarget.id == target_id)).first()
    if row is None:
        return None
    hold(session, row)
    return row[0]


def _preload_result(session: Session, call: Call) -> None:
    """Load the target and the call's open step in one query (later ``session.get`` calls hit the session)."""
    if call.step_id is None:
        hold(session, [session.get(PublishTarget, call.target_id)])
        return
    row = session.execute(select(PublishTarget, JobStep).outerjoin(JobStep, JobStep.id == call.step_id)
                          .where(PublishTarget.id == call.target_id)).first()
    hold(session, row or ())


def _prepare(ctx: PipelineContext, lease: Lease, session: Session, target_id: int) -> Call | Finished | None:
    """Decide the next call; for a creating step, commit the intent first.

    A target that cannot go on (deadline passed, the post no longer
    validates, the destination needs a person) fails here, before any
    platform call; the notice of that failure is returned instead.
    """
    lease.guard(session)
    target = _preload(session, target_id)
    if target is None or target.status not in ACTIVE_TARGET_STATES:
        return None
    decided = decide(ctx, lease, session, target)
    session.commit()
    return decided


def decide(ctx: PipelineContext, lease: Lease, session: Session, target: PublishTarget) -> Call | Finished | None:
    """The next call on the loaded, active ``target``, in the caller's guarded transaction (not committed).

    ``None`` when the target is not due; a notice when it failed here. A
    creating step gets its intent (``step_in_flight`` and a running step)
    written in the transaction: the caller must commit before the call.
    """
    now = utcnow()
    if target.next_check_at is not None and target.next_check_at > now:
        return None
    kind = "poll" if target.phase == "poll" else "step"
    if target.step_in_flight:
        kind = "step" if target.retry_safe else "reconcile"
    call = build_call(ctx, session, target, kind)
    if call is None:
        _fail(target, "channel_not_installed", f"No installed plugin publishes to the channel of {target.target}.")
    if call is None or not _can_go_on(ctx, lease, session, target, call, now):
        return finished_notice(call.spec.name, call.destination, call.post, target) if call else None
    if kind == "step":
        step = open_step(session, lease.run_id, target.target, "publish_step", "calling the platform")
        target.step_in_flight, target.status = str(step.id), "publishing"
        call.step_id = step.id
    return call


def _can_go_on(ctx: PipelineContext, lease: Lease, session: Session, target: PublishTarget, call: Call,
               now: datetime) -> bool:
    """``False`` after failing the target: past its deadline, invalid post, or no usable credentials."""
    if target.deadline_at is not None and target.deadline_at < now:
        _fail(target, "publish_timed_out", "The platform did not finish processing the post before the "
              "channel's deadline.", retryable=True)
        return False
    if target.status == "pending" and not _still_valid(ctx, lease, session, target, call):
        return False
    if not load_credentials(ctx, session, call):  # the destination needs a person
        _fail(target, "reauthorization_required", f"The destination {target.target} must be reconnected.")
        return False
    return True


def _still_valid(ctx: PipelineContext, lease: Lease, session: Session, target: PublishTarget, call: Call) -> bool:
    """Validate the post again before the target's first step (spec §2.5); fail it on violations."""
    post_row = session.get(PostRow, target.post_id)
    row = session.get(DestinationRow, call.destination_row_id)
    assert post_row is not None and row is not None
    violations = check_target(session, ctx.channels, post_row, row, call.post)
    if not violations:
        return True
    message = "The post no longer validates: " + "; ".join(v.message for v in violations)
    step = open_step(session, lease.run_id, target.target, "validate", "")
    close_step(session, step.id, "failed", message)
    _fail(target, "validation_failed", message)
    return False


def build_call(ctx: PipelineContext, session: Session, target: PublishTarget, kind: str) -> Call | None:
    """The plugin call for ``target`` without credentials (see :func:`load_credentials`).

    ``None`` when the target's channel is no longer installed.
    """
    row = session.get(DestinationRow, target.destination_id)
    post_row = session.get(PostRow, target.post_id)
    assert row is not None and post_row is not None
    try:
        spec = ctx.channels.spec(row.channel)
    except UnknownChannelError:
        return None
    media = media_for(session, post_row, spec, ctx.config)
    step_id = int(target.step_in_flight) if target.step_in_flight else None
    return Call(kind, target.id, spec, convert.plugin_destination(row), row.id,
                plugin_post_for(post_row, media, target.target), dict(target.handle or {}), None, step_id)


def load_credentials(ctx: PipelineContext, session: Session, call: Call) -> bool:
    """Give ``call`` the destination's usable credentials; ``False`` when a person must reconnect it."""
    row = session.get(DestinationRow, call.destination_row_id)
    assert row is not None
    call.credentials = credentials_for(ctx, session, row)
    return call.credentials is not None


def invoke(ctx: PipelineContext, lease: Lease, call: Call) -> PublishOutcome | None:
    """Call the plugin with fresh credentials.

    Credentials about to expire are refreshed first; on
    ``CredentialsExpired`` they are refreshed and the call tried once more.
    """
    assert call.credentials is not None
    if expiring(ctx, call.spec, call.credentials):
        call.credentials = refresh_expiring(ctx, lease, call.spec, call.destination, call.destination_row_id,
                                            call.credentials)
    try:
        return _hook(ctx, call)
    except CredentialsExpired:
        call.credentials = refresh_and_store(ctx, lease, call.spec, call.destination, call.destination_row_id,
                                             call.credentials)
    try:
        return _hook(ctx, call)
    except CredentialsExpired as again:
        raise ReauthorizationRequired(f"refreshed credentials were rejected too: {again}") from None


def _hook(ctx: PipelineContext, call: Call) -> PublishOutcome | None:
    arguments: dict[str, Any] = {"destination": call.destination, "post": call.post, "handle": call.handle,
                                 "credentials": call.credentials, "pacer": ctx.pacer}
    if call.kind == "poll":
        return ctx.channels.poll_publish(call.spec.name, **arguments)
    if call.kind == "reconcile":
        if not ctx.channels.has(call.spec.name, _reconcile_capability()):
            return None
        return ctx.channels.reconcile_publish(call.spec.name, **arguments)
    return ctx.channels.publish_step(call.spec.name, **arguments)


def _reconcile_capability() -> Capability:
    return Capability.RECONCILE


# --------------------------------------------------------------------------- outcomes


def _apply(ctx: PipelineContext, lease: Lease, session: Session, call: Call,
           outcome: PublishOutcome | None) -> Finished | None:
    """Record the outcome; the notice when the target became terminal."""
    target = session.get(PublishTarget, call.target_id)
    assert target is not None
    if call.kind == "reconcile":
        interrupted = session.get(JobStep, call.step_id) if call.step_id is not None else None
        if interrupted is not None and interrupted.status == "running":  # the worker died; not an OutcomeUnknown
            close_step(session, interrupted.id, "interrupted", "the worker stopped during this call")
        step = open_step(session, lease.run_id, target.target, "reconcile", "")
        call.step_id = step.id
        if outcome is None:
            close_step(session, step.id, "failed", "the platform cannot tell whether the call went through")
            _needs_reconcile(target)
            return None
    assert outcome is not None  # publish_step and poll_publish never return None
    _record(ctx, lease, session, target, call, outcome)
    return _notice(call, target)


def _notice(call: Call, target: PublishTarget) -> Finished | None:
    return finished_notice(call.spec.name, call.destination, call.post, target)


def _record(ctx: PipelineContext, lease: Lease, session: Session, target: PublishTarget, call: Call,
            outcome: PublishOutcome) -> None:
    """Store the outcome: the handle first (every platform id), then the state."""
    now = utcnow()
    target.handle, target.step_in_flight, target.attempt = dict(outcome.handle), None, 0
    step_id = open_step_of(session, lease, target, call)
    waiting = outcome.state is PublishState.WAITING and call.kind == "poll"
    status = "failed" if outcome.state is PublishState.FAILED else ("running" if waiting else "succeeded")
    close_step(session, step_id, status, outcome.detail, name=outcome.step or None)
    if outcome.state is PublishState.CONTINUE:
        target.phase, target.retry_safe = "step", outcome.retry_safe
        target.next_check_at = now + timedelta(seconds=outcome.poll_after_s) if outcome.poll_after_s else None
    elif outcome.state is PublishState.WAITING:
        _wait(ctx, session, lease, target, call, outcome, now, step_id)
    elif outcome.state is PublishState.FAILED:
        _fail(target, outcome.error_code or "platform_failed", outcome.message or "The platform refused the post.",
              platform_code=outcome.platform_code)
    else:
        target.status = "published" if outcome.state is PublishState.PUBLISHED else "exported_for_review"
        target.external_id, target.url = outcome.external_id, outcome.url
        _start_watch_or_stop(target, call.spec, outcome, now, ctx.settings.poll_floor_s)


def _start_watch_or_stop(target: PublishTarget, spec: ChannelSpec, outcome: PublishOutcome, now: datetime,
                         floor_s: float | None) -> None:
    """A handoff with ``poll_after_s`` on a channel with a watch deadline is watched (phase ``watch``).

    The watch (:mod:`.publishing_watch`) polls at that cadence until
    ``deadline_at``, run by a ``watch`` job run of its own.
    """
    watch = (outcome.state is PublishState.HANDED_OFF and outcome.poll_after_s is not None
             and bool(spec.watch_deadline_s))
    if not watch:
        target.phase, target.next_check_at, target.deadline_at = "done", None, None
        return
    assert outcome.poll_after_s is not None and spec.watch_deadline_s is not None
    target.phase = WATCH_PHASE
    target.next_check_at = now + timedelta(seconds=max(outcome.poll_after_s, floor_s or 0.0))
    target.deadline_at = now + timedelta(seconds=spec.watch_deadline_s)


def _wait(ctx: PipelineContext, session: Session, lease: Lease, target: PublishTarget, call: Call,
          outcome: PublishOutcome, now: datetime, step_id: int | None) -> None:
    polled = call.kind == "poll" and target.phase == "poll"
    next_check = _next_poll(target.next_check_at if polled else None, outcome, call.spec, now,
                            ctx.settings.poll_floor_s or 0.0)
    if target.phase != "poll":
        target.phase = "poll"
        target.deadline_at = now + timedelta(seconds=call.spec.poll_deadline_s)
        open_step(session, lease.run_id, target.target, "await_platform", outcome.detail, flush=False)
    elif call.kind == "poll" and step_id is not None and (step := session.get(JobStep, step_id)) is not None:
        step.detail = outcome.detail
    target.status, target.next_check_at = "publishing", next_check


def _next_poll(due: datetime | None, outcome: PublishOutcome, spec: ChannelSpec, now: datetime,
               floor_s: float) -> datetime:
    """When to poll next: ``poll_after_s`` from now, or on the channel's cadence.

    The cadence counts from when the poll just made was ``due``, not from
    now, so a busy worker's lateness does not push every later poll back;
    a late poll's successor still waits at least half an interval.
    """
    if outcome.poll_after_s is not None:
        return now + timedelta(seconds=max(outcome.poll_after_s, floor_s))
    interval = timedelta(seconds=max(spec.poll_interval_s, floor_s))
    if due is None:
        return now + interval
    return max(due + interval, now + interval / 2)


def _on_error(ctx: PipelineContext, lease: Lease, session: Session, call: Call,
              error: Exception) -> Finished | None:
    """Record the error; the notice when the target failed for good."""
    target = session.get(PublishTarget, call.target_id)
    assert target is not None
    _record_error(ctx, lease, session, target, call, error)
    return _notice(call, target)


def _record_error(ctx: PipelineContext, lease: Lease, session: Session, target: PublishTarget, call: Call,
                  error: Exception) -> None:
    detail = str(error) or type(error).__name__
    if call.kind == "step" and not isinstance(error, ChannelError):
        log.exception("publish_step of %s raised unexpectedly; treating the outcome as unknown", target.target)
        error = OutcomeUnknown(f"the channel plugin failed unexpectedly ({type(error).__name__})")
    if isinstance(error, OutcomeUnknown) and call.kind == "step":
        close_step(session, call.step_id, "unknown", detail)
        target.retry_safe = False  # keep step_in_flight: reconcile next
    elif isinstance(error, OutcomeUnknown) or (call.kind == "reconcile" and not isinstance(error, ChannelError)):
        close_step(session, call.step_id, "interrupted", detail)
        _needs_reconcile(target)
    elif isinstance(error, TransientChannelError) or not isinstance(error, ChannelError):
        _retry_later(ctx, session, lease, target, call, error)
    elif isinstance(error, ReauthorizationRequired):
        _close_step_for(session, lease, target, call, "failed", detail)
        _fail(target, error.code, error.message, platform_code=error.platform_code)
        mark_needs_reauth(session, call.destination_row_id)
    else:
        _close_step_for(session, lease, target, call, "failed", detail)
        code = error.code if isinstance(error, PermanentChannelError) else error.code or "platform_rejected"
        _fail(target, code, error.message, platform_code=error.platform_code)


def _retry_later(ctx: PipelineContext, session: Session, lease: Lease, target: PublishTarget, call: Call,
                 error: Exception) -> None:
    retry_after = getattr(error, "retry_after_s", None)
    if not isinstance(error, RateLimited):
        target.attempt += 1
    if target.attempt > ctx.settings.max_retries:
        _close_step_for(session, lease, target, call, "failed", str(error))
        platform_code = getattr(error, "platform_code", None)
        _fail(target, getattr(error, "code", "platform_unavailable"), f"Gave up after {target.attempt} attempts: "
              f"{error}", retryable=True, platform_code=platform_code)
        return
    delay = ctx.settings.backoff(target.attempt, retry_after)
    if call.kind == "step":
        target.step_in_flight = None  # a transient error means nothing was created
        close_step(session, call.step_id, "retrying", f"{error}; retrying in {delay:.1f} s")
    target.next_check_at = utcnow() + timedelta(seconds=delay)


def _fail(target: PublishTarget, code: str, message: str, *, retryable: bool = False,
          platform_code: str | None = None) -> None:
    target.status, target.step_in_flight, target.next_check_at, target.phase = "failed", None, None, "done"
    target.error = {"code": code, "message": message, "retryable": retryable, "platformCode": platform_code}


def _needs_reconcile(target: PublishTarget) -> None:
    """A call may have gone through and the platform cannot tell: never repeat it."""
    target.status, target.next_check_at, target.phase = "needs_reconcile", None, "done"
    target.error = {"code": "needs_reconcile", "message": "A platform call may have gone through and the platform "
                    "cannot tell; check the destination before publishing again.", "retryable": False,
                    "platformCode": None}


# --------------------------------------------------------------------------- timeline


def open_step(session: Session, run_id: str, target: str, name: str, detail: str, *,
              flush: bool = True) -> JobStep:
    """Add a running step; with ``flush`` (for callers that need its id) insert it at once."""
    step = JobStep(run_id=run_id, target=target, name=name, status="running", detail=detail or "")
    session.add(step)
    if flush:
        session.flush()
    return step


def close_step(session: Session, step_id: int | None, status: str, detail: str, *, name: str | None = None) -> None:
    step = session.get(JobStep, step_id) if step_id is not None else None
    if step is None:
        return
    step.status, step.detail = status, detail or step.detail
    if name:
        step.name = name
    if status != "running":
        step.finished_at = utcnow()


def _close_step_for(session: Session, lease: Lease, target: PublishTarget, call: Call, status: str,
                    detail: str) -> None:
    step_id = open_step_of(session, lease, target, call)
    close_step(session, step_id, status, detail)
    if call.kind == "step":
        target.step_in_flight = None


def open_step_of(session: Session, lease: Lease, target: PublishTarget, call: Call) -> int | None:
    """The step the call's result closes: its own, or for a poll the target's running (await) step."""
    if call.kind != "poll" or call.step_id is not None:
        return call.step_id
    return running_step(session, lease.run_id, target.target)


def running_step(session: Session, run_id: str, target: str) -> int | None:
    return session.scalar(select(JobStep.id).where(JobStep.run_id == run_id, JobStep.target == target,
                                                   JobStep.status == "running").order_by(JobStep.id.desc()).limit(1))
