"""Stored media bytes no row refers to are deleted once they are old; everything else is kept."""

from __future__ import annotations

import os
import time
from pathlib import Path

from core.services.media import new_storage_key
from core.services.media_orphans import delete_orphans
from core.storage import LocalStorage
from core.worker import at_most_every
from tests import media_samples as samples
from tests.media_samples import post_file

HOUR = 3600.0


def _age(root: Path, key: str, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(root / key, (then, then))


def _store(storage: LocalStorage, key: str) -> str:
    storage.save(key, [b"bytes"])
    return key


def test_old_bytes_without_a_row_are_deleted_and_the_rest_kept(client, tenant, sessions, app_config):
    root = Path(app_config["MARKAESTRO_MEDIA_DIR"])
    storage = LocalStorage(root)
    upload = post_file(client, tenant.headers, samples.jpeg(), "kept.jpg").get_json()
    [uploaded] = [p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()]
    orphan = _store(storage, new_storage_key("ast_died_before_commit", "jpg"))
    leftover = _store(storage, f"{upload['id']}/.upload-killed-mid-write")
    recent = _store(storage, new_storage_key("ast_still_uploading", "jpg"))
    for key in (uploaded, orphan, leftover):
        _age(root, key, 2 * HOUR)

    deleted = delete_orphans(sessions, storage, older_than_s=HOUR)

    assert sorted(deleted) == sorted([orphan, leftover])
    assert [storage.exists(key) for key in (uploaded, orphan, leftover, recent)] == [True, False, False, True]
    assert client.get(upload["url"].removeprefix("http://media.test")).status_code == 200


def test_a_gated_chore_runs_at_most_once_per_interval():
    runs: list[int] = []
    chore = at_most_every(HOUR, lambda: runs.append(1))

    chore()
    chore()

    assert runs == [1]
