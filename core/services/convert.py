"""Rows → plugin value objects: the one place where the two worlds meet."""

from __future__ import annotations

from functools import partial

from plugins.types import Destination as PluginDestination
from plugins.types import MediaItem, MediaKind
from plugins.types import Post as PluginPost

from ..models import Destination, MediaAsset, MediaRendition, Post
from ..storage import Storage


def hosted_url(public_url: str, stored: MediaAsset | MediaRendition) -> str:
    """The public URL of an asset's or rendition's bytes: ``{public}/media/{storage_key}``.

    Served by :mod:`core.hosting`. The storage key is generated and
    unguessable, so the URL is too.
    """
    return f"{public_url}/media/{stored.storage_key}"


def media_item(asset: MediaAsset, public_url: str, storage: Storage) -> MediaItem:
    """The asset as stored (no rendition)."""
    return MediaItem(
        id=asset.id, kind=MediaKind(asset.kind), mime_type=asset.mime_type, size_bytes=asset.size_bytes,
        url=hosted_url(public_url, asset), filename=asset.filename, sha256=asset.sha256,
        width=asset.width, height=asset.height, duration_s=asset.duration_seconds,
        opener=partial(storage.open, asset.storage_key),
    )


def rendition_item(asset: MediaAsset, rendition: MediaRendition, public_url: str, storage: Storage) -> MediaItem:
    """The asset delivered as ``rendition``: its URL, type, size, dimensions and bytes."""
    stem = asset.filename.rsplit(".", 1)[0] if "." in asset.filename else asset.filename
    extension = rendition.storage_key.rsplit(".", 1)[-1]
    return MediaItem(
        id=asset.id, kind=MediaKind(asset.kind), mime_type=rendition.mime_type, size_bytes=rendition.size_bytes,
        url=hosted_url(public_url, rendition), filename=f"{stem}.{extension}" if stem else "",
        sha256=rendition.sha256, width=rendition.width, height=rendition.height,
        opener=partial(storage.open, rendition.storage_key),
    )


def plugin_destination(row: Destination) -> PluginDestination:
    return PluginDestination(channel=row.channel, provider=row.provider, account_id=row.account_id,
                             name=row.name, metadata=dict(row.details or {}))


def plugin_post(post: Post, media: tuple[MediaItem, ...], target: str = "") -> PluginPost:
    """The plugin's view of ``post`` for one target (``target`` keys the idempotency token)."""
    return PluginPost(id=post.id, caption=post.caption, media=media, options=dict(post.options or {}),
                      idempotency_token=f"{post.id}:{target}" if target else post.id)
