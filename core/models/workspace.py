"""Workspaces (tenants) and the API keys scoped to them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base
from ._columns import created_at, str_id, workspace_fk


class Workspace(Base):
    __tablename__ = "workspaces"

    id: Mapped[str_id]
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[created_at]


class ApiKey(Base):
    """An API key; only its SHA-256 is stored, the key itself is shown once."""

    __tablename__ = "api_keys"

    id: Mapped[str_id]
    workspace_id: Mapped[workspace_fk]
    name: Mapped[str] = mapped_column(String(200), default="")
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    last_four: Mapped[str] = mapped_column(String(4))
    created_at: Mapped[created_at]
    revoked_at: Mapped[datetime | None]
