"""The plugin test kit's contract tests, plus the declaration this channel promises."""

from __future__ import annotations

from typing import ClassVar

from channels_instagram.spec import SPEC

import channels_instagram
from plugins.testing import ChannelContractTests, make_image, make_post, make_video
from plugins.types import Capability


class TestInstagramContract(ChannelContractTests):
    plugin: ClassVar[object] = channels_instagram


def test_spec_declares_both_logins_and_rules() -> None:
    rules = SPEC.rules
    assert SPEC.name == "instagram" and SPEC.providers == ("instagram", "meta")
    assert (rules.min_items, rules.max_items, rules.max_images, rules.max_videos) == (1, 10, 10, 10)
    assert rules.mixed_media and not rules.text_only
    assert (rules.caption_max_length, rules.max_hashtags, rules.max_mentions) == (2200, 30, 20)
    assert rules.image is not None and rules.image.deliver_as == frozenset({"image/jpeg"})
    assert {"image/png", "image/webp", "image/jpeg"} == rules.image.mime_types
    assert (rules.image.min_aspect_ratio, rules.image.max_aspect_ratio) == (0.8, 1.91)
    assert rules.video is not None and (rules.video.min_duration_s, rules.video.max_duration_s) == (3.0, 900.0)
    assert SPEC.capabilities == {Capability.TOKEN_REFRESH, Capability.OAUTH_CONNECT, Capability.RECONCILE}


def test_settings_defaults_follow_the_deployment_spec() -> None:
    by_env = {s.env: s for s in SPEC.settings}
    assert by_env["MARKAESTRO_INSTAGRAM_GRAPH_URL"].default == "https://graph.instagram.com"
    assert by_env["MARKAESTRO_META_GRAPH_URL"].default == "https://graph.facebook.com"
    assert by_env["MARKAESTRO_INSTAGRAM_CLIENT_SECRET"].secret
    assert "MARKAESTRO_INSTAGRAM_CLIENT_ID" in by_env


def test_validation_names_rule_limit_and_value(channels) -> None:  # type: ignore[no-untyped-def]
    wide = make_image(id="ast_wide", width=2000, height=1000)
    violations = channels.validate_post("instagram", destination=None, post=make_post(wide))
    [ratio] = [v for v in violations if v.rule == "aspect_ratio"]
    assert ratio.media_id == "ast_wide" and "2000x1000" in ratio.message and "2.00:1" in ratio.message
    short = make_video(id="ast_short", duration_s=2.0)
    assert any(v.rule == "min_duration_s" and v.media_id == "ast_short"
               for v in channels.validate_post("instagram", destination=None, post=make_post(short)))


def test_text_only_post_is_refused(channels) -> None:  # type: ignore[no-untyped-def]
    violations = channels.validate_post("instagram", destination=None, post=make_post())
    assert [v.rule for v in violations] == ["min_items"]


def test_mixed_carousel_of_ten_is_valid(channels) -> None:  # type: ignore[no-untyped-def]
    items = [make_image(id=f"ast_{i}") if i % 2 else make_video(id=f"ast_{i}") for i in range(10)]
    assert channels.validate_post("instagram", destination=None, post=make_post(*items)) == []


def test_reel_options_apply_to_reels_only(channels) -> None:  # type: ignore[no-untyped-def]
    reel = make_post(make_video(), options={"share_to_feed": False, "thumb_offset_ms": 1000})
    assert channels.validate_post("instagram", destination=None, post=reel) == []
    image = make_post(make_image(), options={"share_to_feed": True})
    [violation] = channels.validate_post("instagram", destination=None, post=image)
    assert violation.field == "options.share_to_feed" and "Reel" in violation.message
    late = make_post(make_video(duration_s=5.0), options={"thumb_offset_ms": 9000})
    [offset] = channels.validate_post("instagram", destination=None, post=late)
    assert offset.rule == "thumb_offset_ms" and "5000" in offset.message and "9000" in offset.message


def test_alt_text_for_single_images_only(channels) -> None:  # type: ignore[no-untyped-def]
    ok = make_post(make_image(), options={"alt_text": "A red square"})
    assert channels.validate_post("instagram", destination=None, post=ok) == []
    carousel = make_post(make_image(id="a"), make_image(id="b"), options={"alt_text": "x"})
    assert [v.rule for v in channels.validate_post("instagram", destination=None, post=carousel)] == [
        "single_image_option"]
    too_long = make_post(make_image(), options={"alt_text": "x" * 1001})
    assert [v.field for v in channels.validate_post("instagram", destination=None, post=too_long)] == [
        "options.alt_text"]
