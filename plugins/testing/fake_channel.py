"""An in-repo fake channel ("fake") used by the core's own tests.

It declares rules like a real channel (text-only allowed, up to 4 images or
1 video, a 280-character caption, a ``title`` option) so the core's
validation, destinations and publishing can be tested without any real
channel plugin installed. Register it with
``create_plugin_manager(load_entrypoints=False, extra=[fake_channel])`` or
``MARKAESTRO_EXTRA_PLUGINS=plugins.testing.fake_channel``.
"""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from .. import hookimpl
from ..types import (
    Capability,
    ChannelRules,
    ChannelSpec,
    Delivery,
    MediaRules,
    Post,
    SettingSpec,
    Violation,
)

IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/webp"})


class FakeOptions(Schema):
    title = fields.String(validate=validate.Length(max=90))


SPEC = ChannelSpec(
    name="fake",
    title="Fake",
    providers=("fake",),
    delivery=Delivery.DIRECT,
    rules=ChannelRules(
        text_only=True, min_items=0, max_items=4, max_images=4, max_videos=1,
        mixed_media=False, caption_max_length=280, max_hashtags=5,
        image=MediaRules(mime_types=IMAGE_TYPES, max_bytes=10 * 2**20,
                         min_aspect_ratio=0.5, max_aspect_ratio=2.0),
        video=MediaRules(mime_types=frozenset({"video/mp4", "video/quicktime"}),
                         max_bytes=100 * 2**20, min_duration_s=1, max_duration_s=60),
    ),
    capabilities=frozenset({Capability.RECONCILE}),
    settings=(SettingSpec("api_url", "MARKAESTRO_FAKE_API_URL", "http://127.0.0.1:8010",
                          description="base URL of the fake platform"),),
    poll_interval_s=1.0,
    poll_deadline_s=60.0,
    options_schema=FakeOptions,
)


@hookimpl
def register_channels() -> list[ChannelSpec]:
    return [SPEC]


@hookimpl
def validate_post(post: Post) -> list[Violation]:
    """The fake platform refuses captions that say "forbidden"."""
    if "forbidden" in post.caption.lower():
        return [Violation("caption", "forbidden_word", 'fake refuses captions containing "forbidden"',
                          "forbidden", "forbidden")]
    return []
