"""Products and the publish destinations connected to them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base
from ._columns import created_at, str_id, updated_at, workspace_fk


class Product(Base):
    __tablename__ = "products"

    id: Mapped[str_id]
    workspace_id: Mapped[workspace_fk]
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[created_at]


class Destination(Base):
    """A connected account on a channel; its public id is ``channel:provider:account``.

    ``credentials`` is a Fernet token of the JSON-encoded credentials; it is
    never decrypted outside :mod:`core.services.credentials`.
    """

    __tablename__ = "destinations"
    __table_args__ = (UniqueConstraint("product_id", "channel", "provider", "account_id"),)

    id: Mapped[str_id]  # internal ``dst_`` id; the public id is derived
    workspace_id: Mapped[workspace_fk]
    product_id: Mapped[str] = mapped_column(String(64), ForeignKey("products.id"), index=True)
    channel: Mapped[str] = mapped_column(String(40))
    provider: Mapped[str] = mapped_column(String(40))
    account_id: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(255), default="")
    status: Mapped[str] = mapped_column(String(20), default="connected")
    fan_out: Mapped[list[Any]] = mapped_column(default=list)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    credentials: Mapped[str] = mapped_column(Text, default="")
    token_expires_at: Mapped[datetime | None]
    created_at: Mapped[created_at]
    updated_at: Mapped[updated_at]

    @property
    def public_id(self) -> str:
        return f"{self.channel}:{self.provider}:{self.account_id}"
