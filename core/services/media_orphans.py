"""Deleting stored bytes that no media row refers to.

An upload stores its bytes before it commits the asset row (and a worker
stores a rendition before its row); a process killed in between leaves
bytes that nothing serves or deletes, as does an upload's temporary file
when its process is killed mid-write. The worker's sweeper deletes them
once they are old enough that no upload or rendition can still be writing
its row (:data:`ORPHAN_AGE_S`).
"""

from __future__ import annotations

import itertools
import logging

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from ..models import MediaAsset, MediaRendition
from ..storage import Storage

log = logging.getLogger(__name__)
ORPHAN_AGE_S = 3600.0  #: far longer than any upload or rendition takes between storing and committing
CHUNK = 500


def delete_orphans(sessions: sessionmaker[Session], storage: Storage,
                   older_than_s: float = ORPHAN_AGE_S) -> list[str]:
    """Delete the keys older than ``older_than_s`` that no asset or rendition row names; the keys deleted.

    Each chunk of keys is looked up in a short transaction of its own, so
    none stays open while the folder is walked or files are deleted.
    """
    deleted: list[str] = []
    stale = storage.stale_keys(older_than_s)
    while chunk := list(itertools.islice(stale, CHUNK)):
        with sessions() as session:
            known = _known(session, chunk)
        for key in chunk:
            if key not in known:
                storage.delete(key)
                deleted.append(key)
    if deleted:
        log.info("deleted %d stored media files no row refers to", len(deleted))
    return deleted


def _known(session: Session, keys: list[str]) -> set[str]:
    assets = sa.select(MediaAsset.storage_key).where(MediaAsset.storage_key.in_(keys))
    renditions = sa.select(MediaRendition.storage_key).where(MediaRendition.storage_key.in_(keys))
    return set(session.scalars(assets)) | set(session.scalars(renditions))
