"""What each ``POST /{ig-user-id}/media`` container call sends (reference §2.2, §2.4).

- one image: ``image_url`` (+ ``caption``, ``alt_text``);
- one video: ``media_type=REELS`` + ``video_url`` (+ ``caption``, ``share_to_feed``, ``thumb_offset``);
- carousel child: ``image_url`` or ``media_type=VIDEO`` + ``video_url``, with ``is_carousel_item=true``
  and no caption;
- carousel parent: ``media_type=CAROUSEL``, ``children`` comma-separated in the post's order, ``caption``.
"""

from __future__ import annotations

from collections.abc import Sequence

from plugins.types import MediaItem, MediaKind, Post


def is_carousel(post: Post) -> bool:
    return len(post.media) > 1


def asset_label(post: Post, asset_id: str | None) -> str | None:
    """``"image ast_1 (item 2 of 10)"``: how messages name an asset of ``post``."""
    for index, item in enumerate(post.media):
        if item.id == asset_id:
            where = f" (item {index + 1} of {len(post.media)})" if is_carousel(post) else ""
            return f"{item.kind.value} {item.id}{where}"
    return None


def _media_source(item: MediaItem) -> dict[str, object]:
    if item.kind == MediaKind.IMAGE:
        return {"image_url": item.url}
    return {"video_url": item.url}


def child_params(item: MediaItem) -> dict[str, object]:
    """A carousel item container: no caption; videos are ``media_type=VIDEO``."""
    params: dict[str, object] = {"is_carousel_item": True, **_media_source(item)}
    if item.kind == MediaKind.VIDEO:
        params = {"media_type": "VIDEO", **params}
    return params


def single_params(post: Post) -> dict[str, object]:
    """The only container of a one-item post: a feed image or a Reel."""
    item = post.media[0]
    params: dict[str, object] = dict(_media_source(item))
    if item.kind == MediaKind.VIDEO:
        params = {"media_type": "REELS", **params, **_reel_options(post)}
    elif post.options.get("alt_text"):
        params["alt_text"] = post.options["alt_text"]
    return _with_caption(params, post.caption)


def _reel_options(post: Post) -> dict[str, object]:
    options: dict[str, object] = {}
    if "share_to_feed" in post.options:
        options["share_to_feed"] = bool(post.options["share_to_feed"])
    if "thumb_offset_ms" in post.options:
        options["thumb_offset"] = int(post.options["thumb_offset_ms"])
    return options


def carousel_params(post: Post, child_ids: Sequence[str]) -> dict[str, object]:
    """The carousel parent, children in the post's order."""
    return _with_caption({"media_type": "CAROUSEL", "children": ",".join(child_ids)}, post.caption)


def _with_caption(params: dict[str, object], caption: str) -> dict[str, object]:
    return {**params, "caption": caption} if caption else params
