"""The ``instagram`` channel declared as data: rules, settings, options, capabilities.

Every number comes from ``reference/platforms.md`` §0.1 and §2.8 (Instagram
content publishing, IG User Media reference) unless marked otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping

from marshmallow import Schema, fields, validate

from plugins.types import Capability, ChannelRules, ChannelSpec, Delivery, MediaRules, SettingSpec

CHANNEL = "instagram"
PROVIDER_INSTAGRAM = "instagram"  #: Instagram Login, graph.instagram.com
PROVIDER_META = "meta"  #: Facebook Login, graph.facebook.com (Meta fan-out target)

MiB = 2**20
IMAGE_MAX_BYTES = 8 * MiB  #: "JPEG; <= 8 MB" (error 2207004 says "less than 8 MiB")
VIDEO_MAX_BYTES = 300 * MiB  #: current reference copy; older copies said 1 GB
IMAGE_MIN_RATIO, IMAGE_MAX_RATIO = 0.8, 1.91  #: 4:5 .. 1.91:1 (error 2207009)
VIDEO_MIN_S, VIDEO_MAX_S = 3.0, 15 * 60.0  #: Reels 3 s .. 15 min
DEFAULT_SCOPES = "instagram_business_basic,instagram_business_content_publish"
DEFAULT_GRAPH_VERSION = "v25.0"  #: "Latest Graph API Version: v25.0" at snapshot time

SETTINGS = (
    SettingSpec("instagram_graph_url", "MARKAESTRO_INSTAGRAM_GRAPH_URL", "https://graph.instagram.com",
                description="Instagram Login Graph API base (instagram:instagram:* destinations)"),
    SettingSpec("meta_graph_url", "MARKAESTRO_META_GRAPH_URL", "https://graph.facebook.com",
                description="Facebook Graph API base (instagram:meta:* destinations)"),
    SettingSpec("instagram_graph_version", "MARKAESTRO_INSTAGRAM_GRAPH_VERSION", DEFAULT_GRAPH_VERSION,
                description="API version path segment used on the Instagram Login host"),
    SettingSpec("meta_graph_version", "MARKAESTRO_INSTAGRAM_META_GRAPH_VERSION", DEFAULT_GRAPH_VERSION,
                description="API version path segment used on the Facebook Login host"),
    SettingSpec("instagram_api_url", "MARKAESTRO_INSTAGRAM_API_URL", "https://api.instagram.com",
                description="host of the Instagram Login code exchange (/oauth/access_token)"),
    SettingSpec("instagram_oauth_url", "MARKAESTRO_INSTAGRAM_OAUTH_URL", "https://www.instagram.com",
                description="host of the Instagram Login consent screen (/oauth/authorize)"),
    SettingSpec("client_id", "MARKAESTRO_INSTAGRAM_CLIENT_ID", None,
                description="Instagram app id (Instagram Login)"),
    SettingSpec("client_secret", "MARKAESTRO_INSTAGRAM_CLIENT_SECRET", None, secret=True,
                description="Instagram app secret (Instagram Login)"),
    SettingSpec("oauth_scopes", "MARKAESTRO_INSTAGRAM_OAUTH_SCOPES", DEFAULT_SCOPES,
                description="comma-separated Instagram Login scopes"),
    SettingSpec("timeout_s", "MARKAESTRO_INSTAGRAM_TIMEOUT_SECONDS", "30",
                description="read timeout of every Graph API call, in seconds"),
)
_DEFAULTS = {s.key: s.default for s in SETTINGS}


def setting(settings: Mapping[str, str], key: str) -> str:
    """``settings[key]``, or the declared default; empty string when neither is set."""
    value = settings.get(key) or _DEFAULTS.get(key)
    return value or ""


class InstagramOptions(Schema):
    """Post options. Each applies to one post shape (checked by ``validate_post``)."""

    share_to_feed = fields.Boolean()  #: Reels: also show in the Feed (default: Instagram's, true)
    thumb_offset_ms = fields.Integer(validate=validate.Range(min=0))  #: Reels: cover frame, ms
    alt_text = fields.String(validate=validate.Length(max=1000))  #: single image: alt text


RULES = ChannelRules(
    text_only=False, min_items=1, max_items=10, max_images=10, max_videos=10, mixed_media=True,
    caption_max_length=2200, max_hashtags=30, max_mentions=20,
    image=MediaRules(
        mime_types=frozenset({"image/jpeg", "image/png", "image/webp"}),
        deliver_as=frozenset({"image/jpeg"}), max_bytes=IMAGE_MAX_BYTES,
        min_aspect_ratio=IMAGE_MIN_RATIO, max_aspect_ratio=IMAGE_MAX_RATIO,
    ),
    video=MediaRules(
        mime_types=frozenset({"video/mp4", "video/quicktime"}), max_bytes=VIDEO_MAX_BYTES,
        max_width=1920, min_aspect_ratio=0.01, max_aspect_ratio=10.0,
        min_duration_s=VIDEO_MIN_S, max_duration_s=VIDEO_MAX_S,
    ),
)

SPEC = ChannelSpec(
    name=CHANNEL,
    title="Instagram",
    rules=RULES,
    providers=(PROVIDER_INSTAGRAM, PROVIDER_META),
    delivery=Delivery.DIRECT,
    capabilities=frozenset({Capability.TOKEN_REFRESH, Capability.OAUTH_CONNECT, Capability.RECONCILE}),
    settings=SETTINGS,
    poll_interval_s=60.0,  # "query a container's status once per minute"
    poll_deadline_s=10 * 60.0,  # "for no more than 5 minutes", per container phase (children, then parent)
    options_schema=InstagramOptions,
)
