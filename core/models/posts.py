"""Posts and their per-target publish results."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base
from ._columns import created_at, str_id, updated_at, workspace_fk


class Post(Base):
    __tablename__ = "posts"
    __table_args__ = (Index("ix_posts_status_scheduled_at", "status", "scheduled_at"),)

    id: Mapped[str_id]
    workspace_id: Mapped[workspace_fk]
    product_id: Mapped[str] = mapped_column(String(64), ForeignKey("products.id"), index=True)
    channel: Mapped[str] = mapped_column(String(40))
    destination_id: Mapped[str] = mapped_column(String(64), ForeignKey("destinations.id"))
    caption: Mapped[str] = mapped_column(Text, default="")
    media_asset_ids: Mapped[list[Any]] = mapped_column(default=list)
    options: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(30), default="draft")
    scheduled_at: Mapped[datetime | None]
    next_action: Mapped[str | None] = mapped_column(String(60))
    latest_job_run_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[created_at]
    updated_at: Mapped[updated_at]


class PublishTarget(Base):
    """One destination a post is published to (one per fan-out target).

    ``handle`` is the channel plugin's state, holding every platform id
    obtained; ``step_in_flight`` is set (committed) before a creating call
    and cleared with the result, so a crash in between is detectable.
    ``phase`` is the hook called next (``step``: ``publish_step``, ``poll``:
    ``poll_publish``); ``retry_safe`` is the last ``CONTINUE``'s promise
    that the next step creates nothing; ``attempt`` counts retries of the
    current step (backoff).
    """

    __tablename__ = "publish_targets"
    __table_args__ = (UniqueConstraint("post_id", "target"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    post_id: Mapped[str] = mapped_column(String(64), ForeignKey("posts.id"), index=True)
    target: Mapped[str] = mapped_column(String(300))
    destination_id: Mapped[str] = mapped_column(String(64), ForeignKey("destinations.id"))
    position: Mapped[int] = mapped_column(default=0)
    status: Mapped[str] = mapped_column(String(30), default="pending")
    external_id: Mapped[str | None] = mapped_column(String(255))
    url: Mapped[str | None] = mapped_column(String(1000))
    error: Mapped[dict[str, Any] | None]
    handle: Mapped[dict[str, Any]] = mapped_column(default=dict)
    step_in_flight: Mapped[str | None] = mapped_column(String(30))
    phase: Mapped[str] = mapped_column(String(10), default="step")
    retry_safe: Mapped[bool] = mapped_column(default=False)
    attempt: Mapped[int] = mapped_column(default=0)
    next_check_at: Mapped[datetime | None]
    deadline_at: Mapped[datetime | None]
    updated_at: Mapped[updated_at]
