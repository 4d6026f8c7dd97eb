"""Uploaded media assets and the renditions made for channels."""

from __future__ import annotations

from sqlalchemy import BigInteger, Float, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base
from ._columns import created_at, str_id, workspace_fk


class MediaAsset(Base):
    """A stored upload. ``storage_key`` is generated; ``filename`` is metadata only."""

    __tablename__ = "media_assets"

    id: Mapped[str_id]
    workspace_id: Mapped[workspace_fk]
    kind: Mapped[str] = mapped_column(String(10))
    mime_type: Mapped[str] = mapped_column(String(100))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    width: Mapped[int | None]
    height: Mapped[int | None]
    duration_seconds: Mapped[float | None] = mapped_column(Float)
    sha256: Mapped[str] = mapped_column(String(64))
    filename: Mapped[str] = mapped_column(String(255), default="")
    storage_key: Mapped[str] = mapped_column(String(255), unique=True)
    created_at: Mapped[created_at]


class MediaRendition(Base):
    """A converted copy of an asset (a JPEG for a channel that takes only JPEG).

    ``storage_key`` is derived from the asset's key and the target type, so
    concurrent makers of the same rendition collide on its uniqueness.
    """

    __tablename__ = "media_renditions"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    asset_id: Mapped[str] = mapped_column(String(64), ForeignKey("media_assets.id"), index=True)
    mime_type: Mapped[str] = mapped_column(String(100))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    width: Mapped[int | None]
    height: Mapped[int | None]
    sha256: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(String(255), unique=True)
    created_at: Mapped[created_at]
