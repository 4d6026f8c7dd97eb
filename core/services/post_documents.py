"""The public JSON document of a post (spec §2.4), shared by views, the pipeline and webhooks.

Documents are JSON-ready: timestamps are already RFC 3339 strings, so the
same dict can be returned by a view, embedded in an event envelope or
printed by the CLI.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..models import Destination, Post, PublishTarget
from ..timeutil import format_timestamp


def publish_result(row: PublishTarget) -> dict[str, Any]:
    """One ``publishResults`` item: a target's status, platform id, permalink and error."""
    return {
        "target": row.target,
        "status": row.status,
        "externalId": row.external_id,
        "url": row.url,
        "error": row.error,
        "updatedAt": format_timestamp(row.updated_at),
    }


def publish_results(session: Session, post_id: str) -> list[dict[str, Any]]:
    """The post's ``publishResults``, in target position order (empty before any publish)."""
    return _results_by_post(session, [post_id]).get(post_id, [])


def post_document(session: Session, post: Post) -> dict[str, Any]:
    """The post as ``GET /posts/{id}`` shows it."""
    return post_documents(session, [post])[0]


def post_documents(session: Session, posts: Sequence[Post]) -> list[dict[str, Any]]:
    """Documents for many posts, loading destinations and targets in one query each."""
    ids = [p.id for p in posts]
    results = _results_by_post(session, ids)
    public_ids = _public_destination_ids(session, {p.destination_id for p in posts})
    return [_document(p, public_ids.get(p.destination_id), results.get(p.id, [])) for p in posts]


def _document(post: Post, destination_id: str | None, results: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": post.id,
        "productId": post.product_id,
        "channel": post.channel,
        "destinationId": destination_id,
        "caption": post.caption,
        "mediaAssetIds": list(post.media_asset_ids or []),
        "options": dict(post.options or {}),
        "status": post.status,
        "scheduledAt": format_timestamp(post.scheduled_at),
        "createdAt": format_timestamp(post.created_at),
        "updatedAt": format_timestamp(post.updated_at),
        "latestJobRunId": post.latest_job_run_id,
        "publishResults": results,
        "nextAction": post.next_action,
    }


def _results_by_post(session: Session, post_ids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    if not post_ids:
        return {}
    rows = session.scalars(
        select(PublishTarget).where(PublishTarget.post_id.in_(post_ids))
        .order_by(PublishTarget.post_id, PublishTarget.position, PublishTarget.id)
    )
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        grouped[row.post_id].append(publish_result(row))
    return grouped


def _public_destination_ids(session: Session, internal_ids: set[str]) -> dict[str, str]:
    if not internal_ids:
        return {}
    rows = session.scalars(select(Destination).where(Destination.id.in_(internal_ids)))
    return {row.id: row.public_id for row in rows}
