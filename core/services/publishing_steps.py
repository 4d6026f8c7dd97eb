"""The step machine of one target: intent, plugin call, checkpoint.

Each turn loads the target in a guarded transaction and decides the call:

- ``step_in_flight`` set: the previous ``publish_step`` may have gone
  through. Repeat it only if the last ``CONTINUE`` said ``retry_safe``;
  otherwise ask ``reconcile_publish`` (``None`` → ``needs_reconcile``).
- ``phase == "poll"``: ``poll_publish`` (creates nothing; free to repeat).
- otherwise: commit the intent (``step_in_flight`` + a running ``JobStep``)
  and call ``publish_step``.

The outcome, or the error, is committed right after the call. No plugin
call happens inside a database transaction, and none without the intent
committed first.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

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
from plugins.types import Capability, ChannelSpec, Credentials, Destination, Post, PublishOutcome, PublishState

from ..models import JobStep, PublishTarget
from ..timeutil import utcnow
from . import convert
from .publishing_context import PipelineContext
from .publishing_credentials import credentials_for, mark_needs_reauth, refresh_and_store
from .publishing_lease import Lease
from .publishing_media import media_for, plugin_post_for

log = logging.getLogger(__name__)
ACTIVE_TARGET_STATES = ("pending", "publishing")
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
    credentials: Credentials
    step_id: int | None


def advance_target(ctx: PipelineContext, lease: Lease, target_id: int) -> None:
    """Take turns on the target until it is done or must wait."""
    for _ in range(MAX_TURNS_PER_JOB):
        if not _turn(ctx, lease, target_id):
            return


def _turn(ctx: PipelineContext, lease: Lease, target_id: int) -> bool:
    with ctx.sessions() as session:
        call = _prepare(ctx, lease, session, target_id)
    if call is None:
        return False
    try:
        outcome = _invoke(ctx, lease, call)
    except Exception as error:  # every failure is recorded on the target
        with ctx.sessions() as session:
            lease.guard(session)
            _on_error(ctx, lease, session, call, error)
            session.commit()
        return True
    with ctx.sessions() as session:
        lease.guard(session)
        _apply(ctx, lease, session, call, outcome)
        session.commit()
    return True


def _prepare(ctx: PipelineContext, lease: Lease, session: Session, target_id: int) -> Call | None:
    """Decide the next call; for a creating step, commit the intent first."""
    lease.guard(session)
    target = session.get(PublishTarget, target_id)
    now = utcnow()
    if target is None or target.status not in ACTIVE_TARGET_STATES:
        return None
    if target.next_check_at is not None and target.next_check_at > now:
        return None
    if target.deadline_at is not None and target.deadline_at < now:
        _fail(target, "publish_timed_out", "The platform did not finish processing the post before the "
              "channel's deadline.", retryable=True)
        session.commit()
        return None
    kind = "poll" if target.phase == "poll" else "step"
    if target.step_in_flight:
        kind = "step" if target.retry_safe else "reconcile"
    call = _build_call(ctx, session, target, kind)
    if call is None:
        session.commit()
        return None
    if kind == "step":
        step = _open_step(session, lease.run_id, target.target, "publish_step", "calling the platform")
        target.step_in_flight, target.status = str(step.id), "publishing"
        call.step_id = step.id
    session.commit()
    return call


def _build_call(ctx: PipelineContext, session: Session, target: PublishTarget, kind: str) -> Call | None:
    from ..models import Destination as DestinationRow
    from ..models import Post as PostRow

    row = session.get(DestinationRow, target.destination_id)
    post_row = session.get(PostRow, target.post_id)
    assert row is not None and post_row is not None
    spec = ctx.channels.spec(row.channel)
    credentials = credentials_for(ctx, session, row, spec)
    if credentials is None:  # the destination needs a person
        _fail(target, "reauthorization_required", f"The destination {row.public_id} must be reconnected.")
        return None
    media = media_for(session, post_row, spec, ctx.config)
    step_id = int(target.step_in_flight) if target.step_in_flight else None
    return Call(kind, target.id, spec, convert.plugin_destination(row), row.id,
                plugin_post_for(post_row, media, target.target), dict(target.handle or {}), credentials, step_id)


def _invoke(ctx: PipelineContext, lease: Lease, call: Call) -> PublishOutcome | None:
    """Call the plugin; on ``CredentialsExpired`` refresh the tokens and try once more."""
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


def _apply(ctx: PipelineContext, lease: Lease, session: Session, call: Call, outcome: PublishOutcome | None) -> None:
    target = session.get(PublishTarget, call.target_id)
    assert target is not None
    if call.kind == "reconcile":
        _close_step(session, call.step_id, "interrupted", "the worker stopped during this call")
        step = _open_step(session, lease.run_id, target.target, "reconcile", "")
        call.step_id = step.id
        if outcome is None:
            _close_step(session, step.id, "failed", "the platform cannot tell whether the call went through")
            _needs_reconcile(target)
            return
    assert outcome is not None  # publish_step and poll_publish never return None
    _record(ctx, lease, session, target, call, outcome)


def _record(ctx: PipelineContext, lease: Lease, session: Session, target: PublishTarget, call: Call,
            outcome: PublishOutcome) -> None:
    """Store the outcome: the handle first (every platform id), then the state."""
    now = utcnow()
    target.handle, target.step_in_flight, target.attempt = dict(outcome.handle), None, 0
    step_id = call.step_id if call.kind != "poll" else _wait_step(session, lease.run_id, target.target)
    waiting = outcome.state is PublishState.WAITING and call.kind == "poll"
    status = "failed" if outcome.state is PublishState.FAILED else ("running" if waiting else "succeeded")
    name = outcome.step or None
    _close_step(session, step_id, status, outcome.detail, name=name if call.kind != "poll" else None)
    if outcome.state is PublishState.CONTINUE:
        target.phase, target.retry_safe = "step", outcome.retry_safe
        target.next_check_at = now + timedelta(seconds=outcome.poll_after_s) if outcome.poll_after_s else None
    elif outcome.state is PublishState.WAITING:
        _wait(ctx, session, lease, target, call, outcome, now)
    elif outcome.state is PublishState.FAILED:
        _fail(target, outcome.error_code or "platform_failed", outcome.message or "The platform refused the post.",
              platform_code=outcome.platform_code)
    else:
        target.status = "published" if outcome.state is PublishState.PUBLISHED else "exported_for_review"
        target.external_id, target.url = outcome.external_id, outcome.url
        target.next_check_at = target.deadline_at = None
        target.phase = "done"


def _wait(ctx: PipelineContext, session: Session, lease: Lease, target: PublishTarget, call: Call,
          outcome: PublishOutcome, now: datetime) -> None:
    delay = outcome.poll_after_s if outcome.poll_after_s is not None else call.spec.poll_interval_s
    delay = max(delay, ctx.settings.poll_floor_s or 0.0)
    if target.phase != "poll":
        target.phase = "poll"
        target.deadline_at = now + timedelta(seconds=call.spec.poll_deadline_s)
        _open_step(session, lease.run_id, target.target, "await_platform", outcome.detail)
    elif call.kind == "poll":
        step = session.get(JobStep, _wait_step(session, lease.run_id, target.target))
        if step is not None:
            step.detail = outcome.detail
    target.status, target.next_check_at = "publishing", now + timedelta(seconds=delay)


def _on_error(ctx: PipelineContext, lease: Lease, session: Session, call: Call, error: Exception) -> None:
    target = session.get(PublishTarget, call.target_id)
    assert target is not None
    detail = str(error) or type(error).__name__
    if call.kind == "step" and not isinstance(error, ChannelError):
        log.exception("publish_step of %s raised unexpectedly; treating the outcome as unknown", target.target)
        error = OutcomeUnknown(f"the channel plugin failed unexpectedly ({type(error).__name__})")
    if isinstance(error, OutcomeUnknown) and call.kind == "step":
        _close_step(session, call.step_id, "unknown", detail)
        target.retry_safe = False  # keep step_in_flight: reconcile next
    elif isinstance(error, OutcomeUnknown) or (call.kind == "reconcile" and not isinstance(error, ChannelError)):
        _close_step(session, call.step_id, "interrupted", detail)
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
        _close_step(session, call.step_id, "retrying", f"{error}; retrying in {delay:.1f} s")
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


def _open_step(session: Session, run_id: str, target: str, name: str, detail: str) -> JobStep:
    step = JobStep(run_id=run_id, target=target, name=name, status="running", detail=detail or "")
    session.add(step)
    session.flush()
    return step


def _close_step(session: Session, step_id: int | None, status: str, detail: str, *, name: str | None = None) -> None:
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
    step_id = call.step_id if call.kind != "poll" else _wait_step(session, lease.run_id, target.target)
    _close_step(session, step_id, status, detail)
    if call.kind == "step":
        target.step_in_flight = None


def _wait_step(session: Session, run_id: str, target: str) -> int | None:
    from sqlalchemy import select

    return session.scalar(select(JobStep.id).where(JobStep.run_id == run_id, JobStep.target == target,
                                                   JobStep.status == "running").order_by(JobStep.id.desc()).limit(1))
