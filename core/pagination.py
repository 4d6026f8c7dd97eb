"""Cursor pagination, newest first: ``?limit=`` (1–100) and an opaque ``?cursor=``."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypeVar

import marshmallow as ma
from sqlalchemy import Select, and_, or_
from sqlalchemy.orm import InstrumentedAttribute, Session

from .errors import BadRequest

T = TypeVar("T")


class PageArgs(ma.Schema):
    limit = ma.fields.Integer(load_default=20, validate=ma.validate.Range(min=1, max=100))
    cursor = ma.fields.String(load_default=None)


def encode_cursor(created_at: datetime, ident: str) -> str:
    raw = json.dumps([created_at.isoformat(), ident]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        stamp, ident = json.loads(base64.urlsafe_b64decode(padded.encode()))
        return datetime.fromisoformat(stamp), str(ident)
    except (ValueError, TypeError, binascii.Error, json.JSONDecodeError):
        raise BadRequest("The cursor is not one this API returned.", code="invalid_cursor") from None


def paginate(
    session: Session, query: Select[Any], created: InstrumentedAttribute[Any], ident: InstrumentedAttribute[Any],
    limit: int, cursor: str | None,
) -> tuple[Sequence[Any], str | None]:
    """One page of ``query`` (newest first) and the cursor of the next page, if any."""
    if cursor:
        stamp, last_id = decode_cursor(cursor)
        query = query.where(or_(created < stamp, and_(created == stamp, ident < last_id)))
    rows = list(session.scalars(query.order_by(created.desc(), ident.desc()).limit(limit + 1)))
    if len(rows) <= limit:
        return rows, None
    last = rows[limit - 1]
    return rows[:limit], encode_cursor(getattr(last, created.key), getattr(last, ident.key))
