"""Encrypting every stored secret again under the first key, so older keys can be retired.

``MARKAESTRO_SECRET_KEY`` holds comma-separated Fernet keys: the first
encrypts, all decrypt. To retire a key, put the new one first, run
``markaestro secrets rotate`` (this module), then drop the old key. Rows are
rotated in batches, one transaction each, so the command can be stopped and
run again; each row is written only if it still holds what was read (a
worker storing refreshed tokens meanwhile wins, already under the new key).
A row that no configured key decrypts is counted and left alone.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import InstrumentedAttribute, Session, sessionmaker

from ..models import Destination, WebhookEndpoint
from .credentials import CredentialsUnreadable, rotated

BATCH = 200


@dataclass
class Rotation:
    """How many stored secrets were encrypted again, already under the first key, or unreadable."""

    rotated: int = 0
    current: int = 0
    unreadable: int = 0


def rotate_all(sessions: sessionmaker[Session], secret_keys: str) -> dict[str, dict[str, int]]:
    """Rotate destinations' credentials and webhook endpoints' secrets; a report per kind."""
    return {
        "destinations": asdict(rotate_column(sessions, secret_keys, Destination.id, Destination.credentials)),
        "webhookEndpoints": asdict(rotate_column(sessions, secret_keys, WebhookEndpoint.id, WebhookEndpoint.secret)),
    }


def rotate_column(sessions: sessionmaker[Session], secret_keys: str, key: InstrumentedAttribute[Any],
                  column: InstrumentedAttribute[Any]) -> Rotation:
    """Rotate every non-empty value of ``column`` (rows ordered by ``key``), a batch per transaction."""
    report, after = Rotation(), ""
    while True:
        with sessions() as session:
            rows = session.execute(select(key, column).where(key > after, column.is_not(None))
                                   .order_by(key).limit(BATCH)).all()
            for row_id, token in rows:
                _rotate_row(session, report, secret_keys, key, column, row_id, token)
            session.commit()
        if len(rows) < BATCH:
            return report
        after = rows[-1][0]


def _rotate_row(session: Session, report: Rotation, secret_keys: str, key: InstrumentedAttribute[Any],
                column: InstrumentedAttribute[Any], row_id: str, token: str) -> None:
    try:
        fresh = rotated(secret_keys, token)
    except CredentialsUnreadable:
        report.unreadable += 1
        return
    if fresh is None:
        report.current += 1
        return
    written = session.execute(update(key.class_).where(key == row_id, column == token)
                              .values({column.key: fresh})
                              .execution_options(synchronize_session=False)).rowcount  # type: ignore[attr-defined]
    if written:
        report.rotated += 1
    else:  # stored anew meanwhile, under the first key
        report.current += 1
