"""The end of a run: post and run states from the targets, and their events.

Every terminal transition records its events in the same transaction as
the state change (the webhook worker delivers them from the events table).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..models import JobRun, Post, PublishTarget
from ..timeutil import utcnow
from .events import record_event
from .post_documents import publish_result

GOOD = frozenset({"published", "exported_for_review", "skipped"})
LIVE = frozenset({"published", "exported_for_review"})
INBOX_ACTION = "open_tiktok_inbox_and_complete_editing"
RECONNECT_ACTION = "reconnect_destination"


def post_targets(session: Session, post_id: str) -> list[PublishTarget]:
    return list(session.scalars(select(PublishTarget).where(PublishTarget.post_id == post_id)
                                .order_by(PublishTarget.position, PublishTarget.id)))


def post_outcome(targets: Sequence[PublishTarget]) -> tuple[str, str | None]:
    """``(post status, nextAction)`` once every target is terminal."""
    statuses = {t.status for t in targets}
    if statuses <= GOOD:
        status = "exported_for_review" if "exported_for_review" in statuses else "published"
    elif statuses & LIVE:
        status = "partially_published"
    else:
        status = "failed"
    if any((t.error or {}).get("code") == "reauthorization_required" for t in targets):
        return status, RECONNECT_ACTION
    return status, INBOX_ACTION if "exported_for_review" in statuses else None


def finish_run(session: Session, run: JobRun, post: Post, targets: Sequence[PublishTarget]) -> None:
    """Make the run and the post terminal and record their events."""
    now = utcnow()
    status, next_action = post_outcome(targets)
    post.status, post.next_action, post.updated_at = status, next_action, now
    bad = [t for t in targets if t.status not in GOOD]
    run.status = "failed" if bad else "succeeded"
    run.error = _run_error(bad, len(targets)) if bad else None
    run.finished_at, run.lease_owner, run.lease_expires_at, run.next_wake_at = now, None, None, None
    record_post_event(session, post, targets)
    record_event(session, post.workspace_id, f"job_run.{run.status}", {
        "jobRunId": run.id, "postId": post.id, "status": run.status, "error": run.error,
    })


def record_post_event(session: Session, post: Post, targets: Sequence[PublishTarget]) -> None:
    """Record ``post.<status>`` with the post's current state and publish results."""
    record_event(session, post.workspace_id, f"post.{post.status}", {
        "postId": post.id, "channel": post.channel, "status": post.status,
        "externalId": targets[0].external_id if targets else None, "nextAction": post.next_action,
        "publishResults": [publish_result(t) for t in targets],
    })


def refresh_post(session: Session, post_id: str) -> Post:
    """Recompute the post's status and ``nextAction`` from its targets (after a watched target published)."""
    post = session.get(Post, post_id)
    assert post is not None
    session.flush()
    post.status, post.next_action = post_outcome(post_targets(session, post_id))
    post.updated_at = utcnow()
    return post


def _run_error(bad: Sequence[PublishTarget], total: int) -> dict[str, Any]:
    first = bad[0]
    reason = (first.error or {}).get("message") or first.status
    return {"code": "targets_failed", "message": f"{len(bad)} of {total} targets did not publish; "
            f"{first.target}: {reason}", "targets": [t.target for t in bad]}
