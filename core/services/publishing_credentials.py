"""A destination's credentials during a publish: unseal, refresh near expiry, store rotations."""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import update
from sqlalchemy.orm import Session

from plugins.errors import ReauthorizationRequired
from plugins.types import Capability, ChannelSpec, Credentials, Destination

from ..models import Destination as DestinationRow
from ..timeutil import utcnow
from . import convert
from .credentials import CredentialsUnreadable, seal, unseal
from .events import record_event
from .publishing_context import PipelineContext
from .publishing_lease import Lease

log = logging.getLogger(__name__)


def credentials_for(ctx: PipelineContext, session: Session, row: DestinationRow,
                    spec: ChannelSpec) -> Credentials | None:
    """The destination's usable credentials, refreshed first when they expire soon.

    ``None`` (after marking the destination ``needs_reauth``) when a person
    must reconnect it. Runs inside the caller's guarded transaction.
    """
    if row.status == "needs_reauth":
        return None
    secret = str(ctx.config["MARKAESTRO_SECRET_KEY"])
    try:
        credentials = unseal(secret, row.id, row.credentials) if row.credentials else Credentials(access_token="")
    except CredentialsUnreadable:
        log.warning("credentials of destination %s are unreadable", row.public_id)
        mark_needs_reauth(session, row.id)
        return None
    if not _expiring(ctx, spec, credentials):
        return credentials
    try:
        fresh = ctx.channels.refresh_credentials(spec.name, destination=convert.plugin_destination(row),
                                                 credentials=credentials)
    except ReauthorizationRequired:
        mark_needs_reauth(session, row.id)
        return None
    _store(session, secret, row.id, fresh)
    return fresh


def _expiring(ctx: PipelineContext, spec: ChannelSpec, credentials: Credentials) -> bool:
    if Capability.TOKEN_REFRESH not in spec.capabilities or credentials.expires_at is None:
        return False
    return credentials.expires_at <= utcnow() + timedelta(seconds=ctx.settings.refresh_margin_s)


def refresh_and_store(ctx: PipelineContext, lease: Lease, spec: ChannelSpec, destination: Destination,
                      row_id: str, credentials: Credentials) -> Credentials:
    """Refresh rejected credentials and store the rotated ones (guarded by the lease).

    :raises ReauthorizationRequired: the channel cannot refresh, or the platform refused.
    """
    if Capability.TOKEN_REFRESH not in spec.capabilities:
        raise ReauthorizationRequired(f"{spec.title} rejected the access token and cannot refresh it; "
                                      "reconnect the destination.")
    fresh = ctx.channels.refresh_credentials(spec.name, destination=destination, credentials=credentials)
    with ctx.sessions() as session:
        lease.guard(session)
        _store(session, str(ctx.config["MARKAESTRO_SECRET_KEY"]), row_id, fresh)
        session.commit()
    return fresh


def _store(session: Session, secret: str, row_id: str, credentials: Credentials) -> None:
    session.execute(update(DestinationRow).where(DestinationRow.id == row_id).values(
        credentials=seal(secret, row_id, credentials), token_expires_at=credentials.expires_at,
    ).execution_options(synchronize_session=False))


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
