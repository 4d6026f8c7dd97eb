"""The public ``rules`` object of a channel (spec §2.2, §3)."""

from __future__ import annotations

from typing import Any

from plugins.types import ChannelSpec, MediaRules


def public_rules(spec: ChannelSpec) -> dict[str, Any]:
    """The spec's seven rule fields, then the per-kind media limits."""
    rules = spec.rules
    document: dict[str, Any] = {
        "textOnly": rules.text_only,
        "minItems": rules.min_items,
        "maxItems": rules.max_items,
        "maxImages": rules.max_images,
        "maxVideos": rules.max_videos,
        "mixedMedia": rules.mixed_media,
        "captionMaxLength": rules.caption_max_length,
    }
    if rules.max_hashtags is not None:
        document["maxHashtags"] = rules.max_hashtags
    if rules.max_mentions is not None:
        document["maxMentions"] = rules.max_mentions
    document["image"] = _media(rules.image)
    document["video"] = _media(rules.video)
    return document


def _media(rules: MediaRules | None) -> dict[str, Any] | None:
    if rules is None:
        return None
    fields = {
        "mimeTypes": sorted(rules.mime_types),
        "maxBytes": rules.max_bytes,
        "minWidth": rules.min_width,
        "maxWidth": rules.max_width,
        "minHeight": rules.min_height,
        "maxHeight": rules.max_height,
        "minAspectRatio": rules.min_aspect_ratio,
        "maxAspectRatio": rules.max_aspect_ratio,
        "minDurationSeconds": rules.min_duration_s,
        "maxDurationSeconds": rules.max_duration_s,
    }
    return {key: value for key, value in fields.items() if value is not None}
