"""A destination's credentials during a publish: unseal, refresh near expiry, store rotations."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy.orm import Session

from plugins.errors import ReauthorizationRequired
from plugins.types import Capability, ChannelSpec, Credentials, Destination

from ..models import Destination as DestinationRow
from ..timeutil import utcnow
from .credentials import CredentialsUnreadable, seal, unseal
from .events import record_event
from .publishing_context import PipelineContext
from .publishing_lease import Lease

log = logging.getLogger(__name__)


def credentials_for(ctx: PipelineContext, session: Session, row: DestinationRow) -> Credentials | None:
    """The destination's stored credentials; ``None`` (after marking it ``needs_reauth``) when a person must act.

    Credentials that expire soon are returned as they are: the call
    refreshes them first (:func:`refresh_expiring`), outside the caller's
    transaction.
    """
    if row.status == "needs_reauth":
        return None
    credentials = _read(ctx, row)
    if credentials is None:
        log.warning("credentials of destination %s are unreadable", row.public_id)
        mark_needs_reauth(session, row.id)
    return credentials


def _read(ctx: PipelineContext, row: DestinationRow) -> Credentials | None:
    """``row``'s credentials; ``None`` when they cannot be read."""
    try:
        return unseal(_secret(ctx), row.id, row.credentials) if row.credentials else Credentials(access_token="")
    except CredentialsUnreadable:
        return None


def _secret(ctx: PipelineContext) -> str:
    return str(ctx.config["MARKAESTRO_SECRET_KEY"])


def expiring(ctx: PipelineContext, spec: ChannelSpec, credentials: Credentials) -> bool:
    """Whether ``credentials`` expire within the refresh margin (and the channel can refresh them)."""
    if Capability.TOKEN_REFRESH not in spec.capabilities or credentials.expires_at is None:
        return False
    return credentials.expires_at <= utcnow() + timedelta(seconds=ctx.settings.refresh_margin_s)


def refresh_expiring(ctx: PipelineContext, lease: Lease, spec: ChannelSpec, destination: Destination,
                     row_id: str, credentials: Credentials) -> Credentials:
    """Refresh ``credentials`` about to expire before a call, unless another caller just did.

    :raises ReauthorizationRequired: the platform refused the refresh.
    """
    return _refresh_once(ctx, lease, spec, destination, row_id, credentials,
                         usable=lambda stored: not expiring(ctx, spec, stored))


def refresh_and_store(ctx: PipelineContext, lease: Lease, spec: ChannelSpec, destination: Destination,
                      row_id: str, credentials: Credentials) -> Credentials:
    """Refresh rejected ``credentials`` and store the rotated ones, unless another caller just did.

    :raises ReauthorizationRequired: the channel cannot refresh, or the platform refused.
    """
    if Capability.TOKEN_REFRESH not in spec.capabilities:
        raise ReauthorizationRequired(f"{spec.title} rejected the access token and cannot refresh it; "
                                      "reconnect the destination.")
    return _refresh_once(ctx, lease, spec, destination, row_id, credentials,
                         usable=lambda stored: stored.access_token != credentials.access_token)


def _refresh_once(ctx: PipelineContext, lease: Lease, spec: ChannelSpec, destination: Destination, row_id: str,
                  credentials: Credentials, usable: Callable[[Credentials], bool]) -> Credentials:
    """Refresh and store the destination's credentials in a transaction of their own (guarded by the lease).

    The destination row stays locked from its read to the store, so of
    the callers refreshing side by side (the targets of one round, other
    workers) one refreshes and the others find ``usable`` credentials
    stored: a rotated refresh token is never spent twice. Only that row
    and the run are locked during the platform's answer.
    """
    with ctx.sessions() as session:
        lease.guard(session)
        row = session.get(DestinationRow, row_id, with_for_update=True)
        stored = _read(ctx, row) if row is not None else None
        if stored is not None and usable(stored):
            return stored
        fresh = ctx.channels.refresh_credentials(spec.name, destination=destination, credentials=stored or credentials)
        if row is not None:
            _store(session, _secret(ctx), row, fresh)
        session.commit()
    return fresh


def _store(session: Session, secret: str, row: DestinationRow, credentials: Credentials) -> None:
    row.credentials, row.token_expires_at = seal(secret, row.id, credentials), credentials.expires_at


def mark_needs_reauth(session: Session, row_id: str) -> None:
    """Mark the destination ``needs_reauth`` and record the event (once, on the transition)."""
    row = session.get(DestinationRow, row_id)
    if row is None or row.status == "needs_reauth":
        return
    row.status = "needs_reauth"
    record_event(session, row.workspace_id, "destination.needs_reauth", {
        "destinationId": row.public_id, "productId": row.product_id, "channel": row.channel,
        "status": "needs_reauth", "nextAction": "reconnect_destination",
    })
