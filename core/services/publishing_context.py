"""What the publish pipeline needs besides the database rows: plugins, settings, pacing."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from plugins.manager import Channels
from plugins.types import Pacer

#: ``schedule(run_id, fence, at, description)`` queues the run's next job (``at=None``: now).
Schedule = Callable[[str, int, "datetime | None", str], None]


@dataclass(frozen=True)
class PipelineSettings:
    """Timings, from ``MARKAESTRO_*`` settings (short ones in tests)."""

    lease_s: float = 120.0
    poll_floor_s: float | None = None
    retry_base_s: float = 2.0
    max_retries: int = 6
    refresh_margin_s: float = 300.0
    #: runs (or polls) a job works side by side, each in a thread of its own: platform calls overlap
    concurrency: int = 1

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> PipelineSettings:
        def number(key: str, default: float | None) -> float | None:
            value = config.get(key)
            return default if value in (None, "") else float(value)

        return cls(
            lease_s=number("MARKAESTRO_LEASE_SECONDS", 120.0) or 120.0,
            poll_floor_s=number("MARKAESTRO_POLL_INTERVAL_SECONDS", None),
            retry_base_s=number("MARKAESTRO_RETRY_BASE_SECONDS", 2.0) or 0.0,
            max_retries=int(number("MARKAESTRO_MAX_RETRIES", 6) or 0),
            concurrency=max(1, int(number("MARKAESTRO_WORKER_CONCURRENCY", _default_concurrency(config)) or 1)),
        )

    def backoff(self, attempt: int, retry_after_s: float | None) -> float:
        """The platform's ``Retry-After`` when given, else exponential backoff with full jitter."""
        if retry_after_s is not None:
            return max(retry_after_s, 0.0)
        ceiling = self.retry_base_s * 2 ** max(attempt - 1, 0)
        return random.uniform(ceiling / 2, ceiling)


def _default_concurrency(config: Mapping[str, Any]) -> int:
    """8 threads per job; 1 on SQLite, whose single writer would only make them queue for its lock."""
    return 1 if str(config.get("MARKAESTRO_DATABASE_URL", "")).startswith("sqlite") else 8


@dataclass(frozen=True)
class PipelineContext:
    sessions: sessionmaker[Session]
    channels: Channels
    config: Mapping[str, Any]
    pacer: Pacer
    schedule: Schedule
    settings: PipelineSettings
    queue: Any = None  #: the RQ queue, for the sweeper


def engine_of(ctx: PipelineContext) -> Engine | None:
    """The engine ``ctx``'s sessions are bound to (``None`` when bound to one connection)."""
    bind = ctx.sessions.kw.get("bind")
    return bind if isinstance(bind, Engine) else None


@contextmanager
def job_context(ctx: PipelineContext) -> Iterator[PipelineContext]:
    """``ctx`` whose sessions all run on one connection, checked out once for a unit of work.

    Each session still begins and commits (or rolls back) its own
    transaction on that connection, so the commits are exactly the ones
    it would make with a pooled session per transaction, without a pool
    checkout (and pre-ping) per transaction. Not for sharing between
    threads: give each thread its own.
    """
    engine = engine_of(ctx)
    if engine is None:
        yield ctx
        return
    with engine.connect() as connection:
        sessions: sessionmaker[Session] = sessionmaker(bind=connection, expire_on_commit=False)
        yield replace(ctx, sessions=sessions)
