"""The TikTok channel declaration: rules, options, settings and cadence.

Limits come from the public API spec §3 (up to 10 images or 1 video, no
mixing) and TikTok's Content Posting API docs as recorded in
``shared/reference/platforms.md`` §4 (formats, sizes, durations, text
limits). What :class:`~plugins.types.ChannelRules` cannot say is checked in
:mod:`channels_tiktok.validation`.
"""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate

from plugins.types import (
    Capability,
    ChannelRules,
    ChannelSpec,
    Delivery,
    MediaRules,
    SettingSpec,
)

CHANNEL = "tiktok"
PROVIDER = "tiktok"

PHOTO_TITLE_MAX = 90  #: UTF-16 code units (TikTok "runes") [DOC photo-post]
PHOTO_DESCRIPTION_MAX = 4000  #: UTF-16 code units [DOC photo-post]
CAPTION_MAX = 2200  #: video title limit, also the public rules' caption limit
MAX_PHOTO_LONG_SIDE = 1920  #: "max 1080p" [DOC media-transfer-guide]
MAX_PHOTO_SHORT_SIDE = 1080

IMAGE_RULES = MediaRules(
    mime_types=frozenset({"image/jpeg", "image/webp", "image/png"}),
    deliver_as=frozenset({"image/jpeg", "image/webp"}),
    max_bytes=20 * 1024 * 1024,
)
VIDEO_RULES = MediaRules(
    mime_types=frozenset({"video/mp4", "video/quicktime", "video/webm"}),
    max_bytes=4 * 1024**3,
    min_width=360,
    max_width=4096,
    min_height=360,
    max_height=4096,
    max_duration_s=600.0,
)
RULES = ChannelRules(
    text_only=False, min_items=1, max_items=10, max_images=10, max_videos=1,
    mixed_media=False, caption_max_length=CAPTION_MAX, image=IMAGE_RULES, video=VIDEO_RULES,
)


def utf16_length(text: str) -> int:
    """Length as TikTok counts it: UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def _utf16_max(limit: int) -> validate.Validator:
    def check(value: str) -> None:
        if utf16_length(value) > limit:
            raise ValidationError(f"at most {limit} UTF-16 characters; got {utf16_length(value)}")

    return check  # type: ignore[return-value]


class TikTokOptions(Schema):
    """``post.options`` for TikTok. All three apply to photo posts only.

    ``title``/``description`` become the photo post's ``post_info``;
    ``coverIndex`` is ``photo_cover_index`` (0-based, default 0).
    """

    title = fields.String(validate=_utf16_max(PHOTO_TITLE_MAX))
    description = fields.String(validate=_utf16_max(PHOTO_DESCRIPTION_MAX))
    coverIndex = fields.Integer(validate=validate.Range(min=0, max=9), strict=True)


SETTINGS = (
    SettingSpec("api_url", "MARKAESTRO_TIKTOK_API_URL", "https://open.tiktokapis.com",
                description="TikTok Open API base URL (point it at the sandbox for development)"),
    SettingSpec("auth_url", "MARKAESTRO_TIKTOK_AUTH_URL", "https://www.tiktok.com",
                description="base of TikTok's OAuth consent page (/v2/auth/authorize/)"),
    SettingSpec("client_key", "MARKAESTRO_TIKTOK_CLIENT_ID", None,
                description="the TikTok app's client key"),
    SettingSpec("client_secret", "MARKAESTRO_TIKTOK_CLIENT_SECRET", None, secret=True,
                description="the TikTok app's client secret"),
    SettingSpec("chunk_bytes", "MARKAESTRO_TIKTOK_CHUNK_BYTES", "10000000",
                description="preferred upload chunk size; clamped to TikTok's 5 MiB..64 MB rule"),
    SettingSpec("pending_share_limit", "MARKAESTRO_TIKTOK_PENDING_SHARE_LIMIT", "5",
                description="inbox shares allowed per creator per 24 h (TikTok: 5)"),
    SettingSpec("timeout_s", "MARKAESTRO_TIKTOK_TIMEOUT_SECONDS", "30",
                description="read timeout of TikTok API calls, seconds"),
)

SPEC = ChannelSpec(
    name=CHANNEL,
    title="TikTok",
    rules=RULES,
    providers=(PROVIDER,),
    delivery=Delivery.INBOX_HANDOFF,
    capabilities=frozenset({Capability.TOKEN_REFRESH, Capability.OAUTH_CONNECT, Capability.RECONCILE}),
    settings=SETTINGS,
    poll_interval_s=5.0,
    poll_deadline_s=60 * 60.0,
    watch_interval_s=15 * 60.0,
    watch_deadline_s=7 * 24 * 3600.0,
    options_schema=TikTokOptions,
)
