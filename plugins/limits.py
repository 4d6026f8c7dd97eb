"""Core plugin: the violations that follow from a channel's declared rules.

Registered by :func:`plugins.manager.create_plugin_manager` on every manager.
Channel plugins add only what their :class:`~plugins.types.ChannelRules` and
options schema cannot express. Every message names the rule's limit and the
value seen.
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
        message = f"{name} needs at least {_plural(minimum, 'media item')}; got {total}"
        yield Violation(MEDIA_FIELD, "min_items", message, minimum, total)
    if total > rules.max_items:
        message = f"{name} accepts at most {_plural(rules.max_items, 'media item')}; got {total}"
        yield Violation(MEDIA_FIELD, "max_items", message, rules.max_items, total)
    if images > rules.max_images:
        message = f"{name} accepts at most {_plural(rules.max_images, 'image')} per post; got {images}"
        yield Violation(MEDIA_FIELD, "max_images", message, rules.max_images, images)
    if videos > rules.max_videos:
        message = f"{name} accepts at most {_plural(rules.max_videos, 'video')} per post; got {videos}"
        yield Violation(MEDIA_FIELD, "max_videos", message, rules.max_videos, videos)
    if images and videos and not rules.mixed_media:
        got = f"{_plural(images, 'image')} and {_plural(videos, 'video')}"
        yield Violation(MEDIA_FIELD, "mixed_media", f"{name} does not mix images and videos in one post; got {got}",
                        False, True)


def _caption_violations(name: str, rules: ChannelRules, caption: str) -> Iterator[Violation]:
    limit = rules.caption_max_length
    if len(caption) > limit:
        message = f"{name} captions are at most {limit} characters; got {len(caption)}"
        yield Violation("caption", "caption_max_length", message, limit, len(caption))
    for rule, pattern, noun, cap in (("max_hashtags", HASHTAG, "hashtags", rules.max_hashtags),
                                     ("max_mentions", MENTION, "@mentions", rules.max_mentions)):
        count = len(pattern.findall(caption))
        if cap is not None and count > cap:
            yield Violation("caption", rule, f"{name} captions have at most {cap} {noun}; got {count}", cap, count)


def _media_violations(name: str, rules: ChannelRules, item: MediaItem) -> Iterator[Violation]:
    kind = item.kind.value
    kind_rules = rules.image if item.kind == MediaKind.IMAGE else rules.video
    if kind_rules is None:
        yield _media(item, "media_kind", f"{name} does not accept {kind}s; {item.id} is a {kind}", None, kind)
        return
    if item.mime_type not in kind_rules.mime_types:
        accepted = sorted(kind_rules.mime_types)
        message = f"{name} accepts {kind}s of type {', '.join(accepted)}; {item.id} is {item.mime_type}"
        yield _media(item, "mime_type", message, accepted, item.mime_type)
    r = kind_rules
    yield from _range(name, item, "bytes", item.size_bytes, (r.min_bytes, r.max_bytes), ("size", " bytes"))
    yield from _range(name, item, "width", item.width, (r.min_width, r.max_width), ("width", " px"))
    yield from _range(name, item, "height", item.height, (r.min_height, r.max_height), ("height", " px"))
    yield from _range(name, item, "duration_s", item.duration_s, (r.min_duration_s, r.max_duration_s),
                      ("duration", " s"))
    yield from _aspect_violations(name, item, kind_rules)


def _media(item: MediaItem, rule: str, message: str, limit: object, value: object) -> Violation:
    return Violation(MEDIA_FIELD, rule, message, limit, value, media_id=item.id)


def _range(
    name: str, item: MediaItem, rule: str, value: float | None,
    bounds: tuple[float | None, float | None], words: tuple[str, str],
) -> Iterator[Violation]:
    if value is None:
        return
    (low, high), (label, unit) = bounds, words
    subject = f"{'an' if item.kind == MediaKind.IMAGE else 'a'} {item.kind.value} {label}"
    seen = f"{item.id} has {_num(value)}{unit}"
    if low is not None and value < low:
        yield _media(item, f"min_{rule}", f"{name} needs {subject} of at least {_num(low)}{unit}; {seen}", low, value)
    if high is not None and value > high:
        yield _media(item, f"max_{rule}", f"{name} accepts {subject} of at most {_num(high)}{unit}; {seen}",
                     high, value)


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.2f}"


def _aspect_violations(name: str, item: MediaItem, rules: MediaRules) -> Iterator[Violation]:
    ratio = item.aspect_ratio
    if ratio is None:
        return
    low, high = rules.min_aspect_ratio, rules.max_aspect_ratio
    if (low is not None and ratio < low - 1e-3) or (high is not None and ratio > high + 1e-3):
        allowed = f"{_num(low) if low is not None else '0'}:1 to {_num(high) if high is not None else 'any'}:1"
        seen = f"{item.id} is {item.width}x{item.height} ({ratio:.2f}:1)"
        message = f"{name} accepts {item.kind.value} aspect ratios from {allowed}; {seen}"
        yield _media(item, "aspect_ratio", message, [low, high], round(ratio, 4))


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
