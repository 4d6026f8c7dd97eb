"""API keys: created once, stored as SHA-256, verified in constant time.

A key looks like ``mk_<40 base62 chars><6-char checksum>``. The checksum (a
CRC32 of the random part) lets a mistyped or made-up key be refused without
touching the database.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import zlib
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..ids import new_id, random_token
from ..models import ApiKey, Workspace
from ..timeutil import utcnow
from .errors import not_found

KEY_PREFIX = "mk_"
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_SHAPE = re.compile(r"^mk_[0-9A-Za-z]{46}$")


@dataclass(frozen=True)
class CreatedKey:
    id: str
    key: str
    workspace_id: str
    name: str


def _checksum(body: str) -> str:
    value = zlib.crc32(body.encode())
    chars = []
    for _ in range(6):
        value, rem = divmod(value, 62)
        chars.append(_BASE62[rem])
    return "".join(reversed(chars))


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def well_formed(key: str) -> bool:
    """Shape and checksum are right (says nothing about the key existing)."""
    if not _SHAPE.match(key):
        return False
    body = key[len(KEY_PREFIX):-6]
    return hmac.compare_digest(_checksum(body), key[-6:])


def create_key(session: Session, workspace_id: str, name: str = "") -> CreatedKey:
    """Create a key for an existing workspace; the returned key is never stored."""
    if session.get(Workspace, workspace_id) is None:
        raise not_found("workspace", workspace_id)
    body = random_token(40)
    key = f"{KEY_PREFIX}{body}{_checksum(body)}"
    row = ApiKey(id=new_id("key"), workspace_id=workspace_id, name=name,
                 key_hash=hash_key(key), last_four=key[-4:])
    session.add(row)
    session.commit()
    return CreatedKey(id=row.id, key=key, workspace_id=workspace_id, name=name)


def revoke_key(session: Session, key_id: str) -> ApiKey:
    row = session.get(ApiKey, key_id)
    if row is None:
        raise not_found("API key", key_id)
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        session.commit()
    return row


def authenticate(session: Session, key: str) -> ApiKey | None:
    """The live key row for ``key``, or ``None`` (malformed, unknown or revoked)."""
    if not well_formed(key):
        return None
    digest = hash_key(key)
    row = session.scalars(select(ApiKey).where(ApiKey.key_hash == digest)).one_or_none()
    if row is None or not hmac.compare_digest(row.key_hash, digest) or row.revoked_at is not None:
        return None
    return row
