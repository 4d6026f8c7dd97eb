"""Webhook endpoints and their deliveries (spec §2.7): create, list, disable, inspect, retry.

Secrets are ``whsec_`` Standard Webhooks secrets, returned once by
:func:`create_endpoint` and stored only Fernet-encrypted. Every lookup is
scoped to the workspace: another workspace's id is the same 404 as a
missing one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ..errors import Conflict, Unprocessable, validation_failed
from ..ids import new_id
from ..models import Event, WebhookDelivery, WebhookEndpoint
from ..pagination import paginate
from ..timeutil import utcnow
from ..webhooks import signing
from ..webhooks.ssrf import Resolver, UnsafeWebhookUrl, check_url
from .credentials import encrypt_text
from .errors import get_owned, not_found
from .events import EVENT_TYPES

DISABLED_BY_USER, GONE, FAILING = "disabled_by_user", "gone", "failing"


@dataclass(frozen=True)
class CreatedEndpoint:
    endpoint: WebhookEndpoint
    secret: str  # shown once


def create_endpoint(
    session: Session, workspace_id: str, url: str, events: Sequence[str] | None, description: str, *,
    secret_keys: str, resolver: Resolver, allow_private: bool,
) -> CreatedEndpoint:
    """Register ``url`` after the SSRF check (422 ``invalid_webhook_url`` with the reason)."""
    unknown = sorted(set(events or ()) - set(EVENT_TYPES))
    if unknown or (events is not None and not events):
        raise validation_failed({"events": [f"unknown event types: {', '.join(unknown)}" if unknown
                                            else "must name at least one event type (omit it for all)"]})
    try:
        check_url(url, resolver, allow_private=allow_private)
    except UnsafeWebhookUrl as error:
        raise Unprocessable(f"The webhook URL is not allowed: {error.reason}.", code="invalid_webhook_url",
                            errors={"url": [error.reason]}) from None
    secret = signing.generate_secret()
    endpoint = WebhookEndpoint(
        id=new_id("whe"), workspace_id=workspace_id, url=url, description=description,
        events=sorted(set(events), key=EVENT_TYPES.index) if events is not None else None,
        secret=encrypt_text(secret_keys, secret), status="enabled",
    )
    session.add(endpoint)
    session.commit()
    return CreatedEndpoint(endpoint, secret)


def get_endpoint(session: Session, workspace_id: str, endpoint_id: str) -> WebhookEndpoint:
    return get_owned(session, WebhookEndpoint, workspace_id, endpoint_id, "webhook endpoint")


def list_endpoints(
    session: Session, workspace_id: str, limit: int, cursor: str | None
) -> tuple[Sequence[WebhookEndpoint], str | None]:
    query = select(WebhookEndpoint).where(WebhookEndpoint.workspace_id == workspace_id)
    return paginate(session, query, WebhookEndpoint.created_at, WebhookEndpoint.id, limit, cursor)


def delete_endpoint(session: Session, workspace_id: str, endpoint_id: str) -> WebhookEndpoint:
    """Disable the endpoint (``disabled_by_user``); disabling again keeps the first reason."""
    endpoint = get_endpoint(session, workspace_id, endpoint_id)
    if endpoint.status == "enabled":
        disable_endpoint(session, endpoint, DISABLED_BY_USER)
    session.commit()
    return endpoint


def disable_endpoint(session: Session, endpoint: WebhookEndpoint, reason: str, now: datetime | None = None) -> None:
    """Mark ``endpoint`` disabled for ``reason`` and cancel its pending deliveries (kept, not deleted)."""
    endpoint.status, endpoint.disabled_reason, endpoint.disabled_at = "disabled", reason, now or utcnow()
    session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.endpoint_id == endpoint.id, WebhookDelivery.status == "pending")
        .values(status="cancelled", next_attempt_at=None)
        .execution_options(synchronize_session=False)
    )


def list_deliveries(
    session: Session, workspace_id: str, endpoint_id: str, limit: int, cursor: str | None
) -> tuple[list[tuple[WebhookDelivery, str]], str | None]:
    """The endpoint's deliveries, newest first, each with its event type."""
    get_endpoint(session, workspace_id, endpoint_id)
    query = select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint_id)
    rows, next_cursor = paginate(session, query, WebhookDelivery.created_at, WebhookDelivery.id, limit, cursor)
    types = dict(session.execute(select(Event.id, Event.type).where(Event.id.in_([r.event_id for r in rows]))).all())
    return [(row, str(types.get(row.event_id, ""))) for row in rows], next_cursor


def get_delivery(session: Session, workspace_id: str, endpoint_id: str, delivery_id: str) -> WebhookDelivery:
    get_endpoint(session, workspace_id, endpoint_id)
    delivery = session.get(WebhookDelivery, delivery_id)
    if delivery is None or delivery.endpoint_id != endpoint_id:
        raise not_found("webhook delivery", delivery_id)
    return delivery


def retry_delivery(
    session: Session, workspace_id: str, endpoint_id: str, delivery_id: str
) -> tuple[WebhookDelivery, str]:
    """Make the delivery due now with a fresh retry schedule; the caller enqueues it.

    A manual retry resends the same event (same ``webhook-id`` and body,
    newly signed) whatever the delivery's state; 409 if the endpoint is disabled.
    Returns the delivery and its event type.
    """
    delivery = get_delivery(session, workspace_id, endpoint_id, delivery_id)
    endpoint = get_endpoint(session, workspace_id, endpoint_id)
    if endpoint.status != "enabled":
        raise Conflict("The webhook endpoint is disabled; nothing is delivered to it.",
                       code="webhook_endpoint_disabled")
    delivery.status, delivery.series_attempts, delivery.next_attempt_at = "pending", 0, utcnow()
    session.commit()
    return delivery, str(session.scalar(select(Event.type).where(Event.id == delivery.event_id)) or "")
