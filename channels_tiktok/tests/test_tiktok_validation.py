"""Rules: the declared ones (checked by the core's limits plugin) and TikTok's own."""

from __future__ import annotations

import pytest

import channels_tiktok
from plugins.manager import Channels, create_plugin_manager
from plugins.testing import make_image, make_post, make_video
from plugins.types import Delivery


@pytest.fixture
def rules_channels() -> Channels:
    return Channels(create_plugin_manager(load_entrypoints=False, extra=[channels_tiktok]))


def rules(channels: Channels, post) -> set[str]:  # type: ignore[no-untyped-def]
    return {v.rule for v in channels.validate_post("tiktok", destination=None, post=post)}


def test_spec_shape(rules_channels: Channels) -> None:
    spec = rules_channels.spec("tiktok")
    assert spec.delivery == Delivery.INBOX_HANDOFF and spec.providers == ("tiktok",)
    assert (spec.rules.max_images, spec.rules.max_videos, spec.rules.caption_max_length) == (10, 1, 2200)
    assert spec.watch_interval_s and spec.watch_deadline_s and spec.poll_interval_s == 5.0


def test_valid_posts(rules_channels: Channels) -> None:
    assert rules(rules_channels, make_post(make_video())) == set()
    assert rules(rules_channels, make_post(make_image("image/png"), make_image("image/webp", id="b"),
                                           options={"title": "Hi", "coverIndex": 1})) == set()


@pytest.mark.parametrize(("post", "rule"), [
    (make_post(), "min_items"),
    (make_post(make_image(), make_video()), "mixed_media"),
    (make_post(make_video(), make_video(id="v2")), "max_videos"),
    (make_post(make_image("image/gif")), "mime_type"),
    (make_post(make_video("video/x-msvideo")), "mime_type"),
    (make_post(make_video(duration_s=601)), "max_duration_s"),
    (make_post(make_video(width=320, height=568)), "min_width"),
    (make_post(make_image(width=3000, height=2000)), "max_resolution"),
    (make_post(make_image(), options={"coverIndex": 1}), "cover_index"),
    (make_post(make_video(), options={"title": "x"}), "photo_only_option"),
    (make_post(make_image(), options={"title": "😀" * 46}), "invalid_option"),
    (make_post(make_image(), options={"privacy": "x"}), "invalid_option"),
])
def test_violations(rules_channels: Channels, post, rule: str) -> None:  # type: ignore[no-untyped-def]
    assert rule in rules(rules_channels, post)


def test_messages_name_limit_and_value(rules_channels: Channels) -> None:
    [violation] = rules_channels.validate_post("tiktok", destination=None,
                                               post=make_post(make_image(width=3000, height=2000)))
    assert "1080x1920" in violation.message and "3000x2000" in violation.message
