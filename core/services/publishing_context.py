"""What the publish pipeline needs besides the database rows: plugins, settings, pacing."""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

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
        )

    def backoff(self, attempt: int, retry_after_s: float | None) -> float:
        """The platform's ``Retry-After`` when given, else exponential backoff with full jitter."""
        if retry_after_s is not None:
            return max(retry_after_s, 0.0)
        ceiling = self.retry_base_s * 2 ** max(attempt - 1, 0)
        return random.uniform(ceiling / 2, ceiling)


@dataclass(frozen=True)
class PipelineContext:
    sessions: sessionmaker[Session]
    channels: Channels
    config: Mapping[str, Any]
    pacer: Pacer
    schedule: Schedule
    settings: PipelineSettings
    queue: Any = None  #: the RQ queue, for the sweeper
