"""A destination's credentials during a publish: unseal, refresh near expiry, store rotations."""

from __future__ import annotations

import logging
from datetime import timedelta

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
    must reconnect it. Runs inside the caller's guarded transaction. A
    refresh locks the destination row and reads it again first, so of the
    workers (or the targets of one round) that find the same credentials
    expiring, one refreshes and the others use what it stored: a rotated
    refresh token is never spent twice.
    """
    if row.status == "needs_reauth":
        return None
    credentials = _read(ctx, row)
    if credentials is not None and _expiring(ctx, spec, credentials):
        session.refresh(row, with_for_update=True)
        credentials = _read(ctx, row)
    if credentials is None:
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
    _store(session, _secret(ctx), row, fresh)
    return fresh


def _read(ctx: PipelineContext, row: DestinationRow) -> Credentials | None:
    """``row``'s credentials; ``None`` when they cannot be read."""
    try:
        return unseal(_secret(ctx), row.id, row.credentials) if row.credentials else Credentials(access_token="")
    except CredentialsUnreadable:
        return None


def _secret(ctx: PipelineContext) -> str:
    return str(ctx.config["MARKAESTRO_SECRET_KEY"])


def _expiring(ctx: PipelineContext, spec: ChannelSpec, credentials: Credentials) -> bool:
    if Capability.TOKEN_REFRESH not in spec.capabilities or credentials.expires_at is None:
        return False
    return credentials.expires_at <= utcnow() + timedelta(seconds=ctx.settings.refresh_margin_s)


def refresh_and_store(ctx: PipelineContext, lease: Lease, spec: ChannelSpec, destination: Destination,
                      row_id: str, credentials: Credentials) -> Credentials:
    """Refresh rejected ``credentials`` and store the rotated ones (guarded by the lease).

    The destination row stays locked from its read to the store, so calls
    rejected side by side refresh once: a caller finding other credentials
    stored than those rejected (another refreshed meanwhile) uses them.

    :raises ReauthorizationRequired: the channel cannot refresh, or the platform refused.
    """
    if Capability.TOKEN_REFRESH not in spec.capabilities:
        raise ReauthorizationRequired(f"{spec.title} rejected the access token and cannot refresh it; "
                                      "reconnect the destination.")
    with ctx.sessions() as session:
        lease.guard(session)
        row = session.get(DestinationRow, row_id, with_for_update=True)
        stored = _read(ctx, row) if row is not None else None
        if stored is not None and stored.access_token != credentials.access_token:
            return stored
        fresh = ctx.channels.refresh_credentials(spec.name, destination=destination, credentials=credentials)
        if row is not None:
            _store(session, _secret(ctx), row, fresh)
        session.commit()
    return fresh


def _store(session: Session, secret: str, row: DestinationRow, credentials: Credentials) -> None:
    """Seal ``credentials`` into ``row`` (through the ORM: later reads in the session see them)."""
    row.credentials, row.token_expires_at = seal(secret, row.id, credentials), credentials.expires_at
    session.flush()


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
