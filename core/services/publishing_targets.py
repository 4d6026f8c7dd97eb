"""The targets of a publish: one per destination, one per fan-out target.

Each target is validated by its own channel's rules; a fan-out target whose
rules reject the post is ``skipped`` with the reason, while a rejection on
the post's own destination refuses the publish (422). The run checks each
target again before its first step (:func:`check_target`), so a post that no
longer validates fails there without reaching the platform.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from plugins.manager import Channels, UnknownChannelError
from plugins.types import Post as PluginPost
from plugins.types import Violation

from ..models import Destination, MediaAsset, Post, PublishTarget
from . import convert
from .catalog import find_destination
from .publishing_media import media_for, plugin_post_for

#: Target states that a new run leaves alone: done, or waiting for a person.
KEPT_STATES = frozenset({"published", "exported_for_review", "needs_reconcile"})


@dataclass(frozen=True)
class PlannedTarget:
    """A target the run will publish to (``violations`` empty) or skip."""

    public_id: str
    destination: Destination
    violations: tuple[Violation, ...]


def fan_out_destinations(session: Session, post: Post, primary: Destination) -> list[Destination]:
    """``primary``, or every linked destination it fans out to (connected rows only)."""
    linked = [str(i) for i in (primary.fan_out or [])]
    if not linked:
        return [primary]
    rows = [primary if i == primary.public_id else find_destination(session, post.product_id, i) for i in linked]
    found = [r for r in rows if r is not None]
    return found if primary in found else [primary, *found]


def plan_targets(session: Session, channels: Channels, config: Mapping[str, Any], post: Post,
                 primary: Destination) -> list[PlannedTarget]:
    """Every target of ``post`` with its own channel's violations."""
    planned = []
    for row in fan_out_destinations(session, post, primary):
        planned.append(PlannedTarget(row.public_id, row, tuple(_violations(session, channels, config, post, row))))
    return planned


def _violations(session: Session, channels: Channels, config: Mapping[str, Any], post: Post,
                row: Destination) -> list[Violation]:
    try:
        spec = channels.spec(row.channel)
    except UnknownChannelError:
        return [Violation("destinationId", "channel_not_installed",
                          f"no installed plugin publishes to channel {row.channel!r}")]
    media = media_for(session, post, spec, config)
    return check_target(session, channels, post, row, plugin_post_for(post, media, row.public_id))


def check_target(session: Session, channels: Channels, post: Post, row: Destination,
                 plugin_post: PluginPost) -> list[Violation]:
    """Every reason ``post`` cannot go to ``row``: media that no longer exists, then the channel's rules."""
    return [*missing_media(session, post), *channels.validate_post(
        row.channel, destination=convert.plugin_destination(row), post=plugin_post)]


def missing_media(session: Session, post: Post) -> list[Violation]:
    """A violation for each of the post's media assets that no longer exists in its workspace."""
    ids = [str(i) for i in post.media_asset_ids or []]
    if not ids:
        return []
    found = set(session.scalars(select(MediaAsset.id).where(MediaAsset.id.in_(ids),
                                                            MediaAsset.workspace_id == post.workspace_id)))
    return [Violation("mediaAssetIds", "media_missing", f"media asset {i} no longer exists", value=i, media_id=i)
            for i in ids if i not in found]


def apply_plan(session: Session, post: Post, planned: Sequence[PlannedTarget]) -> list[PublishTarget]:
    """Create or reset the post's target rows; published ones stay as they are."""
    existing = {t.target: t for t in session.scalars(select(PublishTarget).where(PublishTarget.post_id == post.id))}
    rows = []
    for position, plan in enumerate(planned):
        row = existing.get(plan.public_id)
        if row is None:
            row = PublishTarget(post_id=post.id, target=plan.public_id, destination_id=plan.destination.id)
            session.add(row)
        elif row.status in KEPT_STATES:
            rows.append(row)
            continue
        _reset(row, position, plan)
        rows.append(row)
    return rows


def _reset(row: PublishTarget, position: int, plan: PlannedTarget) -> None:
    row.position, row.handle, row.step_in_flight = position, {}, None
    row.phase, row.retry_safe, row.attempt = "step", False, 0
    row.external_id = row.url = row.next_check_at = row.deadline_at = None
    if plan.violations:
        reason = "; ".join(v.message for v in plan.violations)
        row.status = "skipped"
        row.error = {"code": "rejected_by_channel_rules", "message": reason, "retryable": False,
                     "platformCode": None}
    else:
        row.status, row.error = "pending", None
