"""Forks never copy a database connection in the middle of its work.

RQ forks a work horse per job (and the worker forks its scheduler and
webhook processes) while the worker's sweeper thread may be running a
transaction. A child then inherits that connection's state mid-flight:
SQLite keeps every connection's locks in per-process tables that the
child copies, so the child's own connections see a lock nobody will ever
release and wait out the busy timeout ("database is locked" 30 s later);
a PostgreSQL connection's socket is shared with the child. Threads in a
forking process run their database work inside :func:`no_fork`, and
every fork waits for that work to end.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_guard = threading.RLock()


@contextmanager
def no_fork() -> Iterator[None]:
    """Hold off forks of this process while the block runs."""
    with _guard:
        yield


def _before_fork() -> None:
    _guard.acquire()


def _after_fork_in_parent() -> None:
    _guard.release()


def _after_fork_in_child() -> None:
    global _guard
    _guard = threading.RLock()  # the inherited one is held by the forking thread of the parent


os.register_at_fork(before=_before_fork, after_in_parent=_after_fork_in_parent,
                    after_in_child=_after_fork_in_child)
