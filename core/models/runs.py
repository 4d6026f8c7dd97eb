"""Job runs (one per publish request) and their step timeline."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base
from ._columns import created_at, str_id, workspace_fk


class JobRun(Base):
    """A publish run. ``lease_*`` and ``fence`` let one worker own it at a time."""

    __tablename__ = "job_runs"

    id: Mapped[str_id]
    workspace_id: Mapped[workspace_fk]
    post_id: Mapped[str] = mapped_column(String(64), ForeignKey("posts.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20), default="publish")
    status: Mapped[str] = mapped_column(String(20), default="queued", index=True)
    attempts: Mapped[int] = mapped_column(default=0)
    error: Mapped[dict[str, Any] | None]
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_expires_at: Mapped[datetime | None]
    fence: Mapped[int] = mapped_column(default=0)
    next_wake_at: Mapped[datetime | None] = mapped_column(index=True)
    created_at: Mapped[created_at]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]


class JobStep(Base):
    """One entry of a run's timeline: a platform step on one target."""

    __tablename__ = "job_steps"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(String(64), ForeignKey("job_runs.id"), index=True)
    target: Mapped[str] = mapped_column(String(300))
    name: Mapped[str] = mapped_column(String(60))
    status: Mapped[str] = mapped_column(String(20), default="running")
    detail: Mapped[str] = mapped_column(Text, default="")
    started_at: Mapped[created_at]
    finished_at: Mapped[datetime | None]
