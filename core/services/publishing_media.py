"""The media and plugin values a publish hands to a channel plugin."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from plugins.types import ChannelSpec, MediaItem
from plugins.types import Post as PluginPost

from ..models import MediaAsset, Post
from ..storage import Storage, storage_from_config
from . import convert, media


def media_for(session: Session, post: Post, spec: ChannelSpec, config: Mapping[str, Any],
              storage: Storage | None = None) -> tuple[MediaItem, ...]:
    """The post's media in order, as ``spec``'s channel should receive them.

    Images a channel's ``deliver_as`` excludes are handed over as JPEG
    renditions (made once and committed with the caller's transaction).
    """
    ids = list(post.media_asset_ids or [])
    if not ids:
        return ()
    rows = {a.id: a for a in session.scalars(select(MediaAsset).where(MediaAsset.id.in_(ids)))}
    assets = [rows[i] for i in ids if i in rows]
    storage = storage or storage_from_config(dict(config))
    public_url = str(config["MARKAESTRO_PUBLIC_URL"])
    return media.deliverable_media(session, storage, public_url, spec, assets)


def plugin_post_for(post: Post, media: tuple[MediaItem, ...], target: str) -> PluginPost:
    """The plugin's view of ``post`` for ``target``; its idempotency token is stable per target."""
    return convert.plugin_post(post, media, target)
