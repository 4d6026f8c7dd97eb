"""Events recorded by the pipeline, webhook endpoints and delivery attempts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base
from ._columns import created_at, str_id, workspace_fk


class Event(Base):
    """An event (spec §4); ``payload`` is the envelope, byte-stable across retries."""

    __tablename__ = "events"

    id: Mapped[str_id]
    workspace_id: Mapped[workspace_fk]
    type: Mapped[str] = mapped_column(String(60))
    payload: Mapped[str] = mapped_column(Text)
    created_at: Mapped[created_at]
    dispatched_at: Mapped[datetime | None] = mapped_column(index=True)


class WebhookEndpoint(Base):
    """A customer URL receiving events; ``disabled_reason`` is a stable code when disabled."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[str_id]
    workspace_id: Mapped[workspace_fk]
    url: Mapped[str] = mapped_column(String(2000))
    description: Mapped[str] = mapped_column(String(500), default="")
    events: Mapped[list[Any] | None]  # None: every event type
    secret: Mapped[str] = mapped_column(Text)  # Fernet-encrypted ``whsec_...``
    status: Mapped[str] = mapped_column(String(20), default="enabled")
    disabled_reason: Mapped[str | None] = mapped_column(String(200))
    disabled_at: Mapped[datetime | None]
    failing_since: Mapped[datetime | None]  # first failure since the last success
    created_at: Mapped[created_at]


class WebhookDelivery(Base):
    """The delivery of one event to one endpoint, with its latest attempt."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (UniqueConstraint("endpoint_id", "event_id"),)

    id: Mapped[str_id]
    endpoint_id: Mapped[str] = mapped_column(String(64), ForeignKey("webhook_endpoints.id"), index=True)
    event_id: Mapped[str] = mapped_column(String(64), ForeignKey("events.id"))
    status: Mapped[str] = mapped_column(String(20), default="pending")  # pending, delivered, failed, cancelled
    attempts: Mapped[list[Any]] = mapped_column(default=list)
    series_attempts: Mapped[int] = mapped_column(default=0)  # attempts since creation or the last manual retry
    next_attempt_at: Mapped[datetime | None] = mapped_column(index=True)  # due time, or lease while in flight
    delivered_at: Mapped[datetime | None]
    created_at: Mapped[created_at]
