"""Rows → plugin value objects: the one place where the two worlds meet."""

from __future__ import annotations

from functools import partial

from plugins.types import Destination as PluginDestination
from plugins.types import MediaItem, MediaKind
from plugins.types import Post as PluginPost

from ..models import Destination, MediaAsset, Post
from ..storage import Storage


def hosted_url(public_url: str, asset: MediaAsset) -> str:
    """The public URL of an asset's bytes: ``{public}/media/{storage_key}``.

    The storage key is generated and unguessable, so the URL is too.
    """
    return f"{public_url}/media/{asset.storage_key}"


def media_item(asset: MediaAsset, public_url: str, storage: Storage) -> MediaItem:
    return MediaItem(
        id=asset.id, kind=MediaKind(asset.kind), mime_type=asset.mime_type, size_bytes=asset.size_bytes,
        url=hosted_url(public_url, asset), filename=asset.filename, sha256=asset.sha256,
        width=asset.width, height=asset.height, duration_s=asset.duration_seconds,
        opener=partial(storage.open, asset.storage_key),
    )


def plugin_destination(row: Destination) -> PluginDestination:
    return PluginDestination(channel=row.channel, provider=row.provider, account_id=row.account_id,
                             name=row.name, metadata=dict(row.details or {}))


def plugin_post(post: Post, media: tuple[MediaItem, ...], target: str = "") -> PluginPost:
    """The plugin's view of ``post`` for one target (``target`` keys the idempotency token)."""
    return PluginPost(id=post.id, caption=post.caption, media=media, options=dict(post.options or {}),
                      idempotency_token=f"{post.id}:{target}" if target else post.id)
