"""TikTok rules the declared :class:`~plugins.types.ChannelRules` cannot express.

- photos are at most 1080p [DOC media-transfer-guide]: short side <= 1080 px,
  long side <= 1920 px (TikTok answers ``picture_size_check_failed`` otherwise);
- ``coverIndex`` must point at one of the post's photos;
- ``title``, ``description`` and ``coverIndex`` exist only for photo posts (a
  video's inbox init takes no post text; the creator writes it in the app).
"""

from __future__ import annotations

from collections.abc import Iterator

from plugins.types import MediaItem, MediaKind, Post, Violation

from .spec import MAX_PHOTO_LONG_SIDE, MAX_PHOTO_SHORT_SIDE

PHOTO_ONLY_OPTIONS = ("title", "description", "coverIndex")


def violations(post: Post) -> list[Violation]:
    """Every TikTok-specific rule ``post`` breaks."""
    images = [m for m in post.media if m.kind == MediaKind.IMAGE]
    return [*_photo_sizes(images), *_option_rules(post, len(images))]


def _photo_sizes(images: list[MediaItem]) -> Iterator[Violation]:
    for item in images:
        if not item.width or not item.height:
            continue
        short, long = sorted((item.width, item.height))
        if short > MAX_PHOTO_SHORT_SIDE or long > MAX_PHOTO_LONG_SIDE:
            yield Violation("mediaAssetIds", "max_resolution",
                            f"tiktok accepts photos up to 1080p ({MAX_PHOTO_SHORT_SIDE}x{MAX_PHOTO_LONG_SIDE}); "
                            f"{item.id} is {item.width}x{item.height}",
                            f"{MAX_PHOTO_SHORT_SIDE}x{MAX_PHOTO_LONG_SIDE}", f"{item.width}x{item.height}",
                            media_id=item.id)


def _option_rules(post: Post, image_count: int) -> Iterator[Violation]:
    if image_count == 0 and post.media:
        for key in PHOTO_ONLY_OPTIONS:
            if key in post.options:
                yield Violation(f"options.{key}", "photo_only_option",
                                f"tiktok option {key!r} applies to photo posts only; this post has a video",
                                "photo posts", "video post")
        return
    cover = post.options.get("coverIndex")
    if isinstance(cover, int) and image_count and not 0 <= cover < image_count:
        yield Violation("options.coverIndex", "cover_index",
                        f"tiktok coverIndex must be 0..{image_count - 1} for {image_count} photos; got {cover}",
                        image_count - 1, cover)
