"""Dispatching events into deliveries, and one delivery attempt with the state it leaves.

The database is the source of truth; RQ jobs are only wake-ups. An attempt
first *claims* its delivery with one conditional UPDATE (pending and due →
leased until ``now + lease``), so duplicate or late jobs send nothing and a
lost job is found again by the sweep once the lease or due time has passed.
No transaction is held open while the HTTP request runs.

Per endpoint, first attempts are enqueued in event creation order on a FIFO
queue, so one worker sends them in order; with several workers or after a
retry, order is not guaranteed (as with Stripe and Svix): consumers order by
the envelope's ``createdAt`` and dedupe on ``webhook-id``.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ..ids import new_id
from ..models import Event, WebhookDelivery, WebhookEndpoint
from ..services.credentials import decrypt_text
from ..services.webhooks import FAILING, GONE, disable_endpoint
from ..timeutil import format_timestamp, utcnow
from . import signing, transport
from .settings import WebhookSettings
from .ssrf import Resolver, UnsafeWebhookUrl, check_url

MAX_RETRY_AFTER_S = 24 * 3600.0  #: the longest a receiver's ``Retry-After`` may push the next attempt back


@dataclass(frozen=True)
class Context:
    """What an attempt needs besides a session."""

    settings: WebhookSettings
    secret_keys: str
    resolver: Resolver
    clock: Callable[[], datetime] = field(default=utcnow)


@dataclass(frozen=True)
class Claim:
    delivery_id: str
    message_id: str
    url: str
    secret: str
    body: bytes


@dataclass(frozen=True)
class Outcome:
    status_code: int | None
    duration_ms: int
    error: str | None
    retry_after_s: float | None = None  #: how long the receiver asked us to wait (``Retry-After``)

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def dispatch_events(session: Session, now: datetime, limit: int = 200) -> list[str]:
    """Turn undispatched events into pending deliveries (one per subscribed enabled endpoint).

    Commits; returns the new delivery ids in event creation order.
    """
    events = session.scalars(
        select(Event).where(Event.dispatched_at.is_(None)).order_by(Event.created_at, Event.id)
        .limit(limit).with_for_update(skip_locked=True)
    ).all()
    endpoints: dict[str, list[WebhookEndpoint]] = {}
    created: list[str] = []
    for event in events:
        if event.workspace_id not in endpoints:
            endpoints[event.workspace_id] = _enabled_endpoints(session, event.workspace_id)
        for endpoint in endpoints[event.workspace_id]:
            if _subscribed(endpoint, event):
                delivery = WebhookDelivery(id=new_id("dlv"), endpoint_id=endpoint.id, event_id=event.id,
                                           status="pending", attempts=[], series_attempts=0,
                                           next_attempt_at=now, created_at=now)
                session.add(delivery)
                created.append(delivery.id)
        event.dispatched_at = now
    session.commit()
    return created


def _enabled_endpoints(session: Session, workspace_id: str) -> list[WebhookEndpoint]:
    query = select(WebhookEndpoint).where(WebhookEndpoint.workspace_id == workspace_id,
                                          WebhookEndpoint.status == "enabled")
    return list(session.scalars(query.order_by(WebhookEndpoint.created_at)))


def _subscribed(endpoint: WebhookEndpoint, event: Event) -> bool:
    """Subscribed to the type, and registered before the event happened."""
    return (endpoint.events is None or event.type in endpoint.events) and endpoint.created_at <= event.created_at


def claim(session: Session, delivery_id: str, context: Context) -> Claim | None:
    """Lease a pending, due delivery for one attempt; ``None`` if there is nothing to send. Commits."""
    now = context.clock()
    leased = session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id == delivery_id, WebhookDelivery.status == "pending",
               WebhookDelivery.next_attempt_at <= now + timedelta(seconds=1))
        .values(next_attempt_at=now + timedelta(seconds=context.settings.lease_seconds))
        .execution_options(synchronize_session=False)
    )
    if getattr(leased, "rowcount", 0) != 1:
        session.rollback()
        return None
    delivery = session.get_one(WebhookDelivery, delivery_id)
    endpoint = session.get_one(WebhookEndpoint, delivery.endpoint_id)
    if endpoint.status != "enabled":
        delivery.status, delivery.next_attempt_at = "cancelled", None
        session.commit()
        return None
    event = session.get_one(Event, delivery.event_id)
    session.commit()
    secret = decrypt_text(context.secret_keys, endpoint.secret)
    return Claim(delivery.id, event.id, endpoint.url, secret, event.payload.encode("utf-8"))


def send(claim: Claim, context: Context) -> Outcome:
    """One signed POST of the stored payload bytes; never raises for network trouble."""
    settings = context.settings
    started = time.monotonic()
    try:
        target = check_url(claim.url, context.resolver, allow_private=settings.allow_private)
    except UnsafeWebhookUrl as error:
        return Outcome(None, 0, f"blocked_destination: {error.reason}")
    headers = signing.headers(claim.secret, claim.message_id, int(time.time()), claim.body)
    try:
        response = transport.post(target, claim.body, headers, timeout=settings.timeout,
                                  max_response_bytes=settings.max_response_bytes)
    except transport.TransportError as error:
        return Outcome(None, _elapsed_ms(started), error.reason)
    return Outcome(response.status, _elapsed_ms(started), _status_error(response.status),
                   retry_after_seconds(response.retry_after, context.clock()))


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """``Retry-After`` (delay-seconds or an HTTP date) as seconds from ``now``; ``None`` when absent or unreadable."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max((when - now).total_seconds(), 0.0)


def _elapsed_ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def _status_error(status: int) -> str | None:
    if 200 <= status < 300:
        return None
    if 300 <= status < 400:
        return f"HTTP {status}: redirects are not followed"
    return f"HTTP {status}"


def record(session: Session, delivery_id: str, outcome: Outcome, context: Context) -> datetime | None:
    """Store the attempt and its consequences; the next attempt's due time, if any. Commits."""
    now = context.clock()
    delivery = session.get_one(WebhookDelivery, delivery_id, with_for_update=True)
    endpoint = session.get_one(WebhookEndpoint, delivery.endpoint_id, with_for_update=True)
    delivery.attempts = [*delivery.attempts, _attempt_document(delivery, outcome, now)]
    delivery.series_attempts += 1
    next_at = _settle(session, delivery, endpoint, outcome, context.settings, now)
    session.commit()
    return next_at


def _attempt_document(delivery: WebhookDelivery, outcome: Outcome, now: datetime) -> dict[str, object]:
    manual = delivery.series_attempts == 0 and bool(delivery.attempts)
    return {"number": len(delivery.attempts) + 1, "trigger": "manual" if manual else "automatic",
            "attemptedAt": format_timestamp(now), "statusCode": outcome.status_code,
            "durationMs": outcome.duration_ms, "error": outcome.error}


def _settle(
    session: Session, delivery: WebhookDelivery, endpoint: WebhookEndpoint, outcome: Outcome,
    settings: WebhookSettings, now: datetime,
) -> datetime | None:
    if outcome.ok:
        endpoint.failing_since = None
        if delivery.status == "pending":
            delivery.status, delivery.delivered_at, delivery.next_attempt_at = "delivered", now, None
        return None
    endpoint.failing_since = endpoint.failing_since or now
    if delivery.status != "pending":  # cancelled meanwhile (endpoint disabled)
        return None
    if outcome.status_code == 410:
        delivery.status, delivery.next_attempt_at = "failed", None
        disable_endpoint(session, endpoint, GONE, now)
        return None
    if endpoint.status == "enabled" and (now - endpoint.failing_since).total_seconds() > settings.disable_after:
        delivery.status, delivery.next_attempt_at = "failed", None
        disable_endpoint(session, endpoint, FAILING, now)
        return None
    return _schedule_retry(delivery, settings, now, outcome.retry_after_s)


def _schedule_retry(delivery: WebhookDelivery, settings: WebhookSettings, now: datetime,
                    retry_after_s: float | None) -> datetime | None:
    """The next attempt on the schedule (with jitter), or later when the receiver asked us to wait longer.

    A ``Retry-After`` is honoured up to :data:`MAX_RETRY_AFTER_S`, so a
    receiver cannot park a delivery for good.
    """
    schedule = settings.retry_schedule
    if delivery.series_attempts > len(schedule):
        delivery.status, delivery.next_attempt_at = "failed", None
        return None
    delay = schedule[delivery.series_attempts - 1]
    delay *= 1 + random.uniform(-settings.jitter, settings.jitter)
    delay = max(delay, min(retry_after_s or 0.0, MAX_RETRY_AFTER_S))
    delivery.next_attempt_at = now + timedelta(seconds=max(delay, 0.0))
    return delivery.next_attempt_at


def due_by_endpoint(session: Session, now: datetime, limit: int, per_endpoint: int,
                    skip: Collection[str] = ()) -> list[tuple[str, list[str]]]:
    """Pending deliveries due at ``now`` (not leased), per endpoint, each endpoint's in event order.

    At most ``per_endpoint`` of each endpoint and ``limit`` in all; the
    endpoints in ``skip`` are left out.
    """
    query = (select(WebhookDelivery.id, WebhookDelivery.endpoint_id)
             .join(Event, Event.id == WebhookDelivery.event_id)
             .where(WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at <= now))
    if skip:  # in the query: a skipped endpoint's backlog must not fill the rows read
        query = query.where(WebhookDelivery.endpoint_id.not_in(list(skip)))
    rows = session.execute(query.order_by(WebhookDelivery.next_attempt_at, Event.created_at, Event.id)
                           .limit(limit * 4))
    groups: dict[str, list[str]] = {}
    taken = 0
    for delivery_id, endpoint_id in rows:
        group = groups.setdefault(endpoint_id, [])
        if len(group) < per_endpoint and taken < limit:
            group.append(delivery_id)
            taken += 1
    return [(endpoint_id, ids) for endpoint_id, ids in groups.items() if ids]


def due_deliveries(session: Session, before: datetime, limit: int) -> list[str]:
    """Pending deliveries due before ``before`` (lost wake-ups or expired leases), oldest first."""
    query = select(WebhookDelivery.id).where(WebhookDelivery.status == "pending",
                                             WebhookDelivery.next_attempt_at <= before)
    return list(session.scalars(query.order_by(WebhookDelivery.next_attempt_at).limit(limit)))
