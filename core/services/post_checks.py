"""The checks a post passes before it is stored: channel, product, media, schedule, destination, rules.

Field checks add messages to an :data:`Errors` dict (``field → messages``,
camelCase API field names) so one response reports every problem found;
:func:`raise_if_any` turns them into a ``422 validation_failed``.
Destination resolution and the channel rules raise directly, because they
can only run once the fields they depend on are sound.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from plugins.manager import Channels
from plugins.types import Violation

from ..errors import Unprocessable, ValidationFailed
from ..ids import split_destination_id
from ..models import Destination, MediaAsset, Post, Product
from ..storage import Storage
from ..timeutil import format_timestamp
from . import convert
from .catalog import find_destination

Errors = dict[str, list[str]]

DESTINATION_FORMAT = "{channel}:{provider}:{accountId}"
UNUSABLE = {
    "needs_reauth": "needs to be reconnected (its credentials were rejected or expired); reconnect it first",
    "disabled": "is disabled",
}


@dataclass(frozen=True)
class PostContext:
    """What validating a post needs besides the database: the channel plugins and media hosting."""

    channels: Channels
    public_url: str
    storage: Storage


def raise_if_any(errors: Errors) -> None:
    """``422 validation_failed`` carrying ``errors`` when there are any."""
    if errors:
        raise failed(errors)


def failed(errors: Errors) -> ValidationFailed:
    """A 422 whose ``detail`` is the first message, plus how many more there are."""
    messages = [m for ms in errors.values() for m in ms]
    more = len(messages) - 1
    detail = messages[0] + (f" (and {more} more problem{'s' if more > 1 else ''})" if more > 0 else "")
    return ValidationFailed(detail, errors=errors)


def check_channel(channels: Channels, channel: str, errors: Errors) -> None:
    """The channel must be one an installed plugin declares."""
    if channel not in channels.specs:
        installed = ", ".join(sorted(channels.specs)) or "none"
        errors.setdefault("channel", []).append(f"{channel!r} is not an installed channel; installed: {installed}")


def find_product(session: Session, workspace_id: str, product_id: str, errors: Errors) -> Product | None:
    """The workspace's product; a missing or foreign id is a field error on ``productId``."""
    product = session.get(Product, product_id)
    if product is None or product.workspace_id != workspace_id:
        errors.setdefault("productId", []).append(f"no product {product_id!r} in this workspace")
        return None
    return product


def load_media(session: Session, workspace_id: str, ids: Sequence[str], errors: Errors) -> list[MediaAsset]:
    """The workspace's assets in the order of ``ids``; unknown, foreign and repeated ids are field errors."""
    repeated = sorted({i for i in ids if ids.count(i) > 1})
    if repeated:
        errors.setdefault("mediaAssetIds", []).append(f"media asset ids listed more than once: {', '.join(repeated)}")
    found = {a.id: a for a in session.scalars(
        select(MediaAsset).where(MediaAsset.id.in_(set(ids)), MediaAsset.workspace_id == workspace_id)
    )} if ids else {}
    unknown = [i for i in dict.fromkeys(ids) if i not in found]
    if unknown:
        errors.setdefault("mediaAssetIds", []).append(f"unknown media asset ids: {', '.join(unknown)}")
    return [found[i] for i in ids if i in found]


def check_schedule(scheduled_at: datetime | None, now: datetime, errors: Errors) -> datetime | None:
    """``scheduled_at`` in UTC; it must be aware (the schema ensures it) and in the future."""
    if scheduled_at is None:
        return None
    if scheduled_at.tzinfo is None:
        errors.setdefault("scheduledAt", []).append("must carry a UTC offset or 'Z'")
        return None
    value = scheduled_at.astimezone(UTC)
    if value <= now:
        errors.setdefault("scheduledAt", []).append(
            f"must be in the future; got {format_timestamp(value)}, now is {format_timestamp(now)}")
    return value


def resolve_destination(session: Session, product_id: str, channel: str, public_id: str | None) -> Destination:
    """The destination to post to: the given one, or the product's only connected one on ``channel``.

    Raises ``422 destination_required`` (listing the candidates) when none is
    given and there is not exactly one candidate, and ``422 validation_failed``
    on ``destinationId`` when the given one is malformed, unknown on this
    product, on another channel, or not connected.
    """
    if public_id is None:
        return _only_candidate(session, product_id, channel)
    if split_destination_id(public_id) is None:
        raise failed({"destinationId": [f"{public_id!r} is not a destination id; expected {DESTINATION_FORMAT}"]})
    row = find_destination(session, product_id, public_id)
    if row is None:
        raise failed({"destinationId": [f"no destination {public_id!r} on product {product_id}"]})
    if row.channel != channel:
        raise failed({"destinationId": [f"destination {public_id!r} is on channel {row.channel}, not {channel}"]})
    if row.status != "connected":
        reason = UNUSABLE.get(row.status, f"is {row.status}")
        raise failed({"destinationId": [f"destination {public_id!r} {reason}"]})
    return row


def _only_candidate(session: Session, product_id: str, channel: str) -> Destination:
    candidates = list(session.scalars(select(Destination).where(
        Destination.product_id == product_id, Destination.channel == channel, Destination.status == "connected",
    ).order_by(Destination.created_at, Destination.id)))
    if len(candidates) == 1:
        return candidates[0]
    if candidates:
        ids = ", ".join(c.public_id for c in candidates)
        detail = f"destinationId is required: product {product_id} has {len(candidates)} connected {channel} " \
                 f"destinations: {ids}"
    else:
        detail = f"destinationId is required: product {product_id} has no connected {channel} destination " \
                 "(candidates: none)"
    raise Unprocessable(detail, code="destination_required", errors={"destinationId": [detail]})


def check_rules(ctx: PostContext, post: Post, destination: Destination, assets: Sequence[MediaAsset]) -> None:
    """Validate ``post`` (with the original assets' metadata) against its channel's rules.

    ``post`` may be transient (not added to a session). Every violation is a
    message on its field; nothing is stored when there is one.
    """
    media = tuple(convert.media_item(a, ctx.public_url, ctx.storage) for a in assets)
    violations = ctx.channels.validate_post(
        post.channel, destination=convert.plugin_destination(destination), post=convert.plugin_post(post, media),
    )
    raise_if_any(violation_errors(violations))


def violation_errors(violations: Sequence[Violation]) -> Errors:
    """``field → messages`` of plugin violations (each message names rule, limit and value)."""
    errors: Errors = {}
    for violation in violations:
        errors.setdefault(violation.field, []).append(violation.message)
    return errors
