"""Watching handed-off targets until the creator publishes them (issue 4).

When a channel hands a post off (``HANDED_OFF`` with ``poll_after_s``, as
TikTok's inbox does) the target becomes ``exported_for_review`` in phase
``watch`` with ``next_check_at`` and ``deadline_at`` (``watch_deadline_s``
of the channel) and its publish run finishes, successfully. The watch is
then driven by a job run of its own, ``kind: "watch"``, created in the
same transaction: it uses the same lease, fence, queue and sweeper as a
publish run (so it never holds a worker and survives crashes and lost
Redis data) and keeps its own timeline, so ``GET /job-runs/{id}`` of the
publish run stays as it was at the handoff.

Each due watched target gets one ``poll_publish`` (which creates nothing):

- ``PUBLISHED``: the target becomes ``published`` (``externalId`` = the
  public post id when the channel gives one), the post is recomputed
  (``published``, ``nextAction`` null) and ``post.<status>`` is recorded;
- ``HANDED_OFF`` / ``WAITING``: checked again after ``poll_after_s`` (the
  channel's ``watch_interval_s`` when not given);
- ``FAILED`` (the creator deleted the draft, the platform failed it) or a
  permanent error: the watch stops, the reason is kept on the target's
  ``error``; the target and the post stay ``exported_for_review`` (the
  handoff did happen; no event, the post's state did not change);
- transient errors: retried with backoff, never ending the watch;
- past ``deadline_at``: the watch stops quietly.

The watch run ``succeeds`` when every watch ended by publishing or by the
deadline and ``fails`` when one ended with an error. Watch runs record no
``job_run.*`` events: callers never saw their ids (the post's
``latestJobRunId`` stays the publish run).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from plugins.errors import ChannelError, OutcomeUnknown, ReauthorizationRequired, TransientChannelError
from plugins.types import PublishOutcome, PublishState

from ..ids import new_id
from ..models import JobRun, JobStep, Post, PublishTarget
from ..timeutil import utcnow
from .publishing_context import PipelineContext
from .publishing_credentials import mark_needs_reauth
from .publishing_finish import post_targets, record_post_event, refresh_post
from .publishing_lease import Lease
from .publishing_notify import Finished, finished_notice, notify_finished
from .publishing_steps import (
    WATCH_PHASE,
    Call,
    build_call,
    close_step,
    invoke,
    load_credentials,
    open_step,
    running_step,
)

log = logging.getLogger(__name__)
STEP = "watch_creator_publish"
WATCHED = "exported_for_review"


def watched(targets: list[PublishTarget]) -> list[PublishTarget]:
    return [t for t in targets if t.status == WATCHED and t.phase == WATCH_PHASE]


def open_watch_run(session: Session, post: Post, targets: list[PublishTarget]) -> JobRun | None:
    """A ``watch`` run for the post's watched targets, unless none is watched or one already runs.

    Created ``running`` and unowned with ``next_wake_at``: the caller
    schedules its job after the commit, and the sweeper re-creates it from
    ``next_wake_at`` when that job is lost.
    """
    pending = watched(targets)
    if not pending:
        return None
    active = session.scalar(select(JobRun.id).where(JobRun.post_id == post.id, JobRun.kind == "watch",
                                                    JobRun.status.in_(("queued", "running"))).limit(1))
    if active is not None:
        return None
    run = JobRun(id=new_id("run"), workspace_id=post.workspace_id, post_id=post.id, kind="watch",
                 status="running", started_at=utcnow(), next_wake_at=wake_time(pending))
    session.add(run)
    return run


def finish_watch_run(session: Session, run: JobRun) -> None:
    """``succeeded`` when every watch ended by publishing or at its deadline, ``failed`` with an error otherwise."""
    failed = [t for t in post_targets(session, run.post_id)
              if t.status == WATCHED and t.error is not None and _watched_by(session, run, t)]
    run.status = "failed" if failed else "succeeded"
    run.error = {"code": "watch_failed", "message": f"{failed[0].target}: {(failed[0].error or {}).get('message')}",
                 "targets": [t.target for t in failed]} if failed else None
    run.finished_at, run.lease_owner, run.lease_expires_at, run.next_wake_at = utcnow(), None, None, None


def _watched_by(session: Session, run: JobRun, target: PublishTarget) -> bool:
    return session.scalar(select(JobStep.id).where(JobStep.run_id == run.id, JobStep.target == target.target)
                          .limit(1)) is not None


def wake_time(targets: list[PublishTarget]) -> datetime:
    now = utcnow()
    return min((t.next_check_at or now for t in targets), default=now)


def watch_target(ctx: PipelineContext, lease: Lease, target_id: int) -> None:
    """One due check of a watched target (see the module docstring)."""
    with ctx.sessions() as session:
        call = _prepare(ctx, lease, session, target_id)
        session.commit()
    if call is None:
        return
    notice: Finished | None = None
    try:
        outcome = invoke(ctx, lease, call)
    except Exception as error:  # every failure is recorded on the target
        with ctx.sessions() as session:
            lease.guard(session)
            _on_error(ctx, session, lease, call, error)
            session.commit()
    else:
        with ctx.sessions() as session:
            lease.guard(session)
            assert outcome is not None
            notice = _apply(ctx, session, lease, call, outcome)
            session.commit()
    notify_finished(ctx.channels, notice)


def _prepare(ctx: PipelineContext, lease: Lease, session: Session, target_id: int) -> Call | None:
    lease.guard(session)
    target = session.get(PublishTarget, target_id)
    now = utcnow()
    if target is None or target.status != WATCHED or target.phase != WATCH_PHASE:
        return None
    if target.next_check_at is not None and target.next_check_at > now:
        return None
    if target.deadline_at is not None and target.deadline_at < now:
        _stop(session, lease, target, "stopped", "stopped watching at the channel's deadline; the creator had "
              "not posted it")
        return None
    call = build_call(ctx, session, target, "poll")
    if call is None or not load_credentials(ctx, session, call):
        reason = "the channel is no longer installed" if call is None else "the destination must be reconnected"
        _stop(session, lease, target, "failed", f"stopped watching: {reason}",
              _error("reauthorization_required" if call else "channel_not_installed", reason.capitalize() + "."))
        return None
    if running_step(session, lease.run_id, target.target) is None:
        open_step(session, lease.run_id, target.target, STEP, "watching for the creator's own publish")
    return call


def _apply(ctx: PipelineContext, session: Session, lease: Lease, call: Call,
           outcome: PublishOutcome) -> Finished | None:
    target = session.get(PublishTarget, call.target_id)
    assert target is not None
    target.handle, target.attempt = dict(outcome.handle), 0
    if outcome.state is PublishState.PUBLISHED:
        target.status, target.error = "published", None
        target.external_id, target.url = outcome.external_id or target.external_id, outcome.url
        _stop(session, lease, target, "succeeded", outcome.detail or "the creator published it")
        post = refresh_post(session, target.post_id)
        record_post_event(session, post, post_targets(session, post.id))
        return finished_notice(call.spec.name, call.destination, call.post, target)
    if outcome.state is PublishState.FAILED:
        message = outcome.message or "The platform reported the handed-off post failed."
        _stop(session, lease, target, "failed", outcome.detail or message,
              _error(outcome.error_code or "platform_failed", message, outcome.platform_code))
    elif outcome.state is PublishState.CONTINUE:
        log.warning("%s asked for another publish step while watching %s; not repeated", call.spec.name,
                    target.target)
        _stop(session, lease, target, "stopped", "the channel asked to publish again; stopped watching")
    else:
        interval = outcome.poll_after_s or call.spec.watch_interval_s or call.spec.poll_interval_s
        _check_again(ctx, session, lease, target, interval, outcome.detail)
    return None


def _on_error(ctx: PipelineContext, session: Session, lease: Lease, call: Call, error: Exception) -> None:
    target = session.get(PublishTarget, call.target_id)
    assert target is not None
    if isinstance(error, TransientChannelError | OutcomeUnknown) or not isinstance(error, ChannelError):
        target.attempt = target.attempt + 1 if target.attempt < ctx.settings.max_retries else 1
        delay = ctx.settings.backoff(target.attempt, getattr(error, "retry_after_s", None))
        _check_again(ctx, session, lease, target, delay, f"{error or type(error).__name__}; checking again")
        return
    if isinstance(error, ReauthorizationRequired):
        mark_needs_reauth(session, call.destination_row_id)
    _stop(session, lease, target, "failed", f"stopped watching: {error}",
          _error(error.code, error.message, error.platform_code))


def _check_again(ctx: PipelineContext, session: Session, lease: Lease, target: PublishTarget, delay_s: float,
                 detail: str) -> None:
    delay_s = max(delay_s, ctx.settings.poll_floor_s or 0.0)
    target.next_check_at = utcnow() + timedelta(seconds=delay_s)
    close_step(session, running_step(session, lease.run_id, target.target), "running", detail)


def _stop(session: Session, lease: Lease, target: PublishTarget, step_status: str, detail: str,
          error: dict[str, Any] | None = None) -> None:
    """End the watch of ``target``; a given ``error`` is kept on it (its status stays as it is)."""
    target.phase, target.next_check_at, target.deadline_at = "done", None, None
    if error is not None:
        target.error = error
    step_id = running_step(session, lease.run_id, target.target)
    if step_id is None:
        step_id = open_step(session, lease.run_id, target.target, STEP, "").id
    close_step(session, step_id, step_status, detail)


def _error(code: str, message: str, platform_code: str | None = None) -> dict[str, Any]:
    return {"code": code, "message": message, "retryable": False, "platformCode": platform_code}
