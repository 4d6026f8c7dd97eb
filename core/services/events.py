"""Recording events (spec §4) for webhook delivery.

The envelope is serialized once, here, and stored: every delivery attempt
sends exactly these bytes.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy.orm import Session

from ..ids import new_id
from ..models import Event
from ..timeutil import format_timestamp, utcnow

EVENT_TYPES = (
    "post.published",
    "post.partially_published",
    "post.failed",
    "post.exported_for_review",
    "job_run.succeeded",
    "job_run.failed",
    "destination.needs_reauth",
)


def record_event(session: Session, workspace_id: str, event_type: str, data: dict[str, Any]) -> Event:
    """Add an event to ``session`` (committed with the caller's transaction)."""
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {event_type!r}")
    event_id, created = new_id("evt"), utcnow()
    envelope = {"id": event_id, "type": event_type, "createdAt": format_timestamp(created),
                "workspaceId": workspace_id, "data": data}
    event = Event(id=event_id, workspace_id=workspace_id, type=event_type, created_at=created,
                  payload=json.dumps(envelope, separators=(",", ":")))
    session.add(event)
    return event
