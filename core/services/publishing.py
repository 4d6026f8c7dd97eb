"""Starting a publish: a run and its targets committed together, then queued.

The database, not RQ, decides everything: a conditional ``UPDATE`` on
``posts.status`` lets exactly one request (or the sweeper, for a due
scheduled post) move a post to ``publishing``; the run and its targets are
committed in the same transaction. Enqueueing happens after the commit and
may fail (Redis down): the run then stays ``queued`` and the sweeper
enqueues it later.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from plugins.manager import Channels

from ..errors import Conflict, validation_failed
from ..ids import new_id
from ..models import Destination, JobRun, Post
from ..timeutil import utcnow
from .errors import get_owned
from .post_checks import violation_errors
from .publishing_targets import apply_plan, plan_targets

#: Post states from which a publish may start.
PUBLISHABLE = ("draft", "scheduled", "failed", "partially_published")

Enqueue = Callable[[str, int], object]


def start_publish(session: Session, channels: Channels, config: Mapping[str, Any], workspace_id: str,
                  post_id: str, *, from_states: tuple[str, ...] = PUBLISHABLE) -> JobRun:
    """Move the post to ``publishing`` and commit a ``queued`` run with its targets.

    :raises NotFound: no such post in the workspace.
    :raises Conflict: the post is publishing, published or canceled
        (``code: post_not_publishable``), or another request won the race.
    :raises ValidationFailed: no target's channel accepts the post.
    """
    post = get_owned(session, Post, workspace_id, post_id, "post")
    if post.status not in from_states:
        raise _not_publishable(post.status)
    primary = session.get(Destination, post.destination_id)
    assert primary is not None  # foreign key
    planned = plan_targets(session, channels, config, post, primary)
    if all(p.violations for p in planned):
        raise validation_failed(violation_errors([v for p in planned for v in p.violations]))
    run = _claim_post(session, post, from_states)
    apply_plan(session, post, planned)
    session.commit()
    return run


def _claim_post(session: Session, post: Post, from_states: tuple[str, ...]) -> JobRun:
    """The conditional status change that decides races, and the new run."""
    run = JobRun(id=new_id("run"), workspace_id=post.workspace_id, post_id=post.id, status="queued")
    moved = session.execute(  # "evaluate" applies the same change to the loaded ``post`` (no reload)
        update(Post).where(Post.id == post.id, Post.status.in_(from_states))
        .values(status="publishing", latest_job_run_id=run.id, next_action=None, updated_at=utcnow())
        .execution_options(synchronize_session="evaluate")
    ).rowcount  # type: ignore[attr-defined]
    if moved != 1:
        session.rollback()
        raise _not_publishable("publishing")
    session.add(run)
    return run


def _not_publishable(status: str) -> Conflict:
    return Conflict(f"The post is {status}; only a draft, scheduled, failed or partially published post "
                    "can be published.", code="post_not_publishable")


def enqueue_quietly(enqueue: Enqueue, run: JobRun) -> bool:
    """Queue ``run``; on a Redis error leave it ``queued`` for the sweeper and say so."""
    from redis.exceptions import RedisError

    try:
        enqueue(run.id, run.fence)
    except RedisError:
        return False
    return True
