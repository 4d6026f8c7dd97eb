"""Posts: create, read, list, edit and cancel (spec §2.4; publishing is :mod:`core.services.publishing`).

Every function is scoped to one workspace: another workspace's post is the
same 404 as a missing one. Edits and cancellation are conditional updates
(``UPDATE ... WHERE status IN ('draft', 'scheduled')``), so they cannot
overwrite a post that a concurrent publish has just moved on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session

from ..errors import Conflict
from ..ids import new_id
from ..models import Destination, Post
from ..pagination import paginate
from ..timeutil import utcnow
from .errors import get_owned
from .post_checks import (
    Errors,
    PostContext,
    check_channel,
    check_rules,
    check_schedule,
    find_product,
    load_media,
    raise_if_any,
    resolve_destination,
)

STATUSES = ("draft", "scheduled", "publishing", "published", "partially_published", "exported_for_review",
            "failed", "canceled")
EDITABLE = ("draft", "scheduled")
EDITABLE_FIELDS = frozenset({"caption", "media_asset_ids", "options", "scheduled_at", "destination_id"})


@dataclass(frozen=True)
class NewPost:
    """What ``POST /posts`` asks for; ``destination_id`` is the public id, if given."""

    channel: str
    product_id: str
    caption: str = ""
    media_asset_ids: tuple[str, ...] = ()
    destination_id: str | None = None
    scheduled_at: datetime | None = None
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PostFilters:
    status: str | None = None
    product_id: str | None = None
    channel: str | None = None


def create_post(
    session: Session, ctx: PostContext, workspace_id: str, new: NewPost, now: datetime | None = None
) -> Post:
    """Validate and store a draft (or a scheduled post when ``scheduled_at`` is given).

    Raises 422 (``validation_failed`` or ``destination_required``) and
    stores nothing when any check fails.
    """
    now = now or utcnow()
    errors: Errors = {}
    check_channel(ctx.channels, new.channel, errors)
    product = find_product(session, workspace_id, new.product_id, errors)
    assets = load_media(session, workspace_id, list(new.media_asset_ids), errors)
    scheduled_at = check_schedule(new.scheduled_at, now, errors)
    raise_if_any(errors)
    assert product is not None
    destination = resolve_destination(session, product.id, new.channel, new.destination_id)
    post = Post(
        id=new_id("pst"), workspace_id=workspace_id, product_id=product.id, channel=new.channel,
        destination_id=destination.id, caption=new.caption, media_asset_ids=list(new.media_asset_ids),
        options=dict(new.options), status=_status_for(scheduled_at), scheduled_at=scheduled_at,
        created_at=now, updated_at=now,
    )
    check_rules(ctx, post, destination, assets)
    session.add(post)
    session.commit()
    return post


def get_post(session: Session, workspace_id: str, post_id: str) -> Post:
    """The workspace's post, or the same 404 whether it is missing or another workspace's."""
    return get_owned(session, Post, workspace_id, post_id, "post")


def list_posts(
    session: Session, workspace_id: str, filters: PostFilters, limit: int, cursor: str | None
) -> tuple[Sequence[Post], str | None]:
    """The workspace's posts matching ``filters``, newest first."""
    query = select(Post).where(Post.workspace_id == workspace_id)
    if filters.status is not None:
        query = query.where(Post.status == filters.status)
    if filters.product_id is not None:
        query = query.where(Post.product_id == filters.product_id)
    if filters.channel is not None:
        query = query.where(Post.channel == filters.channel)
    return paginate(session, query, Post.created_at, Post.id, limit, cursor)


def update_post(
    session: Session, ctx: PostContext, workspace_id: str, post_id: str, changes: Mapping[str, Any],
    now: datetime | None = None,
) -> Post:
    """Apply ``changes`` (a subset of :data:`EDITABLE_FIELDS`) to a draft or scheduled post.

    The result is validated like a new post. ``scheduled_at=None``
    unschedules (the post becomes a draft); ``destination_id=None`` resolves
    the destination as if it had been left out at creation. Raises 409
    ``post_not_editable`` when the post is (or concurrently becomes) neither
    draft nor scheduled.
    """
    unknown = set(changes) - EDITABLE_FIELDS
    if unknown:
        raise ValueError(f"not editable: {sorted(unknown)}")
    now = now or utcnow()
    post = get_post(session, workspace_id, post_id)
    if post.status not in EDITABLE:
        raise _not_allowed(post, "post_not_editable", "edited")
    if not changes:
        return post
    values = _edited_values(session, ctx, post, changes, now)
    _guarded_update(session, post, values, "post_not_editable", "edited")
    return post


def cancel_post(session: Session, workspace_id: str, post_id: str, now: datetime | None = None) -> Post:
    """Cancel a draft or scheduled post; 409 ``post_not_cancelable`` otherwise."""
    post = get_post(session, workspace_id, post_id)
    if post.status not in EDITABLE:
        raise _not_allowed(post, "post_not_cancelable", "canceled")
    _guarded_update(session, post, {"status": "canceled", "updated_at": now or utcnow()},
                    "post_not_cancelable", "canceled")
    return post


def _edited_values(
    session: Session, ctx: PostContext, post: Post, changes: Mapping[str, Any], now: datetime
) -> dict[str, Any]:
    """The column values after ``changes``, checked like a new post (the row itself is not touched)."""
    errors: Errors = {}
    check_channel(ctx.channels, post.channel, errors)  # its plugin may have been uninstalled since
    media_ids = list(changes.get("media_asset_ids", post.media_asset_ids or []))
    assets = load_media(session, post.workspace_id, media_ids, errors)
    scheduled_at = post.scheduled_at
    if "scheduled_at" in changes:
        scheduled_at = check_schedule(changes["scheduled_at"], now, errors)
    raise_if_any(errors)
    destination = _edited_destination(session, post, changes)
    candidate = Post(
        id=post.id, channel=post.channel, caption=changes.get("caption", post.caption),
        media_asset_ids=media_ids, options=dict(changes.get("options", post.options or {})),
    )
    check_rules(ctx, candidate, destination, assets)
    return {
        "caption": candidate.caption, "media_asset_ids": media_ids, "options": candidate.options,
        "scheduled_at": scheduled_at, "status": _status_for(scheduled_at), "destination_id": destination.id,
        "updated_at": now,
    }


def _edited_destination(session: Session, post: Post, changes: Mapping[str, Any]) -> Destination:
    """The destination after ``changes``: a newly given one is checked; the current one is kept as is."""
    if "destination_id" in changes:
        return resolve_destination(session, post.product_id, post.channel, changes["destination_id"])
    current = session.get(Destination, post.destination_id)
    assert current is not None  # foreign key
    return current


def _status_for(scheduled_at: datetime | None) -> str:
    return "draft" if scheduled_at is None else "scheduled"


def _not_allowed(post: Post, code: str, verb: str) -> Conflict:
    return Conflict(f"post {post.id} is {post.status}; only draft or scheduled posts can be {verb}", code=code)


def _guarded_update(session: Session, post: Post, values: Mapping[str, Any], code: str, verb: str) -> None:
    """``UPDATE posts SET ... WHERE id = ? AND status IN ('draft', 'scheduled')``, then reload ``post``.

    When the row no longer matches (a publish moved it on since it was
    read), nothing is written and 409 ``code`` is raised.
    """
    result = session.execute(
        update(Post).where(Post.id == post.id, Post.status.in_(EDITABLE)).values(**values)
        .execution_options(synchronize_session=False)
    )
    changed = result.rowcount if isinstance(result, CursorResult) else 0
    session.commit()
    session.refresh(post)
    if changed != 1:
        raise _not_allowed(post, code, verb)
