"""Core plugin: the violations that follow from a channel's declared rules.

Registered by :func:`plugins.manager.create_plugin_manager` on every manager.
Channel plugins add only what their :class:`~plugins.types.ChannelRules` and
options schema cannot express.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from marshmallow import ValidationError

from . import hookimpl
from .types import ChannelRules, ChannelSpec, MediaItem, MediaKind, MediaRules, Post, Violation

MEDIA_FIELD = "mediaAssetIds"
HASHTAG = re.compile(r"(?<!\w)#\w+")
MENTION = re.compile(r"(?<![\w@])@[\w.]+")


@hookimpl
def validate_post(channel: ChannelSpec, post: Post) -> list[Violation]:
    """Check counts, caption, each media item and the options against the spec."""
    return [
        *_count_violations(channel.name, channel.rules, post.media),
        *_caption_violations(channel.name, channel.rules, post.caption),
        *(v for item in post.media for v in _media_violations(channel.name, channel.rules, item)),
        *_option_violations(channel, post),
    ]


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _count_violations(name: str, rules: ChannelRules, media: tuple[MediaItem, ...]) -> Iterator[Violation]:
    total = len(media)
    images = sum(1 for m in media if m.kind == MediaKind.IMAGE)
    videos = total - images
    minimum = 0 if rules.text_only and total == 0 else max(rules.min_items, 0 if rules.text_only else 1)
    if total < minimum:
        yield Violation(MEDIA_FIELD, "min_items", f"{name} needs at least {_plural(minimum, 'media item')}; got {total}", minimum, total)
    if total > rules.max_items:
        yield Violation(MEDIA_FIELD, "max_items", f"{name} accepts at most {_plural(rules.max_items, 'media item')}; got {total}", rules.max_items, total)
    if images > rules.max_images:
        yield Violation(MEDIA_FIELD, "max_images", f"{name} accepts at most {_plural(rules.max_images, 'image')} per post; got {images}", rules.max_images, images)
    if videos > rules.max_videos:
        yield Violation(MEDIA_FIELD, "max_videos", f"{name} accepts at most {_plural(rules.max_videos, 'video')} per post; got {videos}", rules.max_videos, videos)
    if images and videos and not rules.mixed_media:
        yield Violation(MEDIA_FIELD, "mixed_media", f"{name} does not mix images and videos in one post; got {_plural(images, 'image')} and {_plural(videos, 'video')}", False, True)


def _caption_violations(name: str, rules: ChannelRules, caption: str) -> Iterator[Violation]:
    if len(caption) > rules.caption_max_length:
        yield Violation("caption", "caption_max_length", f"{name} captions are at most {rules.caption_max_length} characters; got {len(caption)}", rules.caption_max_length, len(caption))
    hashtags = len(HASHTAG.findall(caption))
    if rules.max_hashtags is not None and hashtags > rules.max_hashtags:
        yield Violation("caption", "max_hashtags", f"{name} captions have at most {rules.max_hashtags} hashtags; got {hashtags}", rules.max_hashtags, hashtags)
    mentions = len(MENTION.findall(caption))
    if rules.max_mentions is not None and mentions > rules.max_mentions:
        yield Violation("caption", "max_mentions", f"{name} captions have at most {rules.max_mentions} @mentions; got {mentions}", rules.max_mentions, mentions)


def _media_violations(name: str, rules: ChannelRules, item: MediaItem) -> Iterator[Violation]:
    kind_rules = rules.image if item.kind == MediaKind.IMAGE else rules.video
    if kind_rules is None:
        yield _media(item, "media_kind", f"{name} does not accept {item.kind.value}s; {item.id} is a {item.kind.value}", None, item.kind.value)
        return
    if item.mime_type not in kind_rules.mime_types:
        accepted = ", ".join(sorted(kind_rules.mime_types))
        yield _media(item, "mime_type", f"{name} accepts {item.kind.value}s of type {accepted}; {item.id} is {item.mime_type}", sorted(kind_rules.mime_types), item.mime_type)
    yield from _range(name, item, "bytes", item.size_bytes, kind_rules.min_bytes, kind_rules.max_bytes, "size", " bytes")
    yield from _range(name, item, "width", item.width, kind_rules.min_width, kind_rules.max_width, "width", " px")
    yield from _range(name, item, "height", item.height, kind_rules.min_height, kind_rules.max_height, "height", " px")
    yield from _range(name, item, "duration_s", item.duration_s, kind_rules.min_duration_s, kind_rules.max_duration_s, "duration", " s")
    yield from _aspect_violations(name, item, kind_rules)


def _media(item: MediaItem, rule: str, message: str, limit: object, value: object) -> Violation:
    return Violation(MEDIA_FIELD, rule, message, limit, value, media_id=item.id)


def _range(
    name: str, item: MediaItem, rule: str, value: float | None,
    low: float | None, high: float | None, label: str, unit: str,
) -> Iterator[Violation]:
    if value is None:
        return
    if low is not None and value < low:
        yield _media(item, f"min_{rule}", f"{name} needs a {item.kind.value} {label} of at least {_num(low)}{unit}; {item.id} has {_num(value)}{unit}", low, value)
    if high is not None and value > high:
        yield _media(item, f"max_{rule}", f"{name} accepts a {item.kind.value} {label} of at most {_num(high)}{unit}; {item.id} has {_num(value)}{unit}", high, value)


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.2f}"


def _aspect_violations(name: str, item: MediaItem, rules: MediaRules) -> Iterator[Violation]:
    ratio = item.aspect_ratio
    if ratio is None:
        return
    low, high = rules.min_aspect_ratio, rules.max_aspect_ratio
    if (low is not None and ratio < low - 1e-3) or (high is not None and ratio > high + 1e-3):
        allowed = f"{_num(low) if low is not None else '0'}:1 to {_num(high) if high is not None else 'any'}:1"
        yield _media(item, "aspect_ratio", f"{name} accepts {item.kind.value} aspect ratios from {allowed}; {item.id} is {item.width}x{item.height} ({ratio:.2f}:1)", [low, high], round(ratio, 4))


def _option_violations(channel: ChannelSpec, post: Post) -> Iterator[Violation]:
    if channel.options_schema is None:
        for key in post.options:
            yield Violation(f"options.{key}", "unknown_option", f"{channel.name} takes no option {key!r}", None, key)
        return
    try:
        channel.options_schema().load(dict(post.options))
    except ValidationError as exc:
        yield from _flatten(exc.normalized_messages())


def _flatten(messages: object, prefix: str = "options") -> Iterator[Violation]:
    if isinstance(messages, dict):
        for key, value in messages.items():
            yield from _flatten(value, f"{prefix}.{key}")
    elif isinstance(messages, list):
        for message in messages:
            yield from _flatten(message, prefix)
    else:
        yield Violation(prefix, "invalid_option", f"{prefix}: {messages}", None, None)
