"""Test kit for channel plugin authors (registered as a pytest plugin).

Subclass :class:`ChannelContractTests`, set ``plugin`` to your plugin module
and ``channel_name`` to a channel it declares, and pytest checks the
behaviour every channel must have. ``make_image``, ``make_video``,
``make_post`` and ``make_destination`` build the values hooks receive.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, ClassVar

import pytest

from ..manager import Channels, create_plugin_manager
from ..types import (
    ChannelSpec,
    Credentials,
    Destination,
    MediaItem,
    MediaKind,
    Post,
    PublishOutcome,
)


def make_image(
    mime_type: str = "image/jpeg", *, id: str = "ast_img", width: int = 1080, height: int = 1080,
    size_bytes: int = 200_000, url: str = "http://localhost:8000/media/ast_img/x.jpg",
) -> MediaItem:
    """An image media item with plausible probed metadata."""
    return MediaItem(id=id, kind=MediaKind.IMAGE, mime_type=mime_type, size_bytes=size_bytes,
                     url=url, width=width, height=height)


def make_video(
    mime_type: str = "video/mp4", *, id: str = "ast_vid", width: int = 1080, height: int = 1920,
    duration_s: float = 15.0, size_bytes: int = 5_000_000,
    url: str = "http://localhost:8000/media/ast_vid/x.mp4",
) -> MediaItem:
    """A video media item with plausible probed metadata."""
    return MediaItem(id=id, kind=MediaKind.VIDEO, mime_type=mime_type, size_bytes=size_bytes,
                     url=url, width=width, height=height, duration_s=duration_s)


def make_post(*media: MediaItem, caption: str = "Hello", options: Mapping[str, Any] | None = None) -> Post:
    """A post carrying ``media`` in order."""
    return Post(id="pst_test", caption=caption, media=tuple(media), options=dict(options or {}),
                idempotency_token="pst_test:target")


def make_destination(channel: str, provider: str | None = None, account_id: str = "acct_1") -> Destination:
    return Destination(channel=channel, provider=provider or channel, account_id=account_id, name="Test")


class ChannelContractTests:
    """Behaviour every channel plugin must have. Subclass and set ``plugin``."""

    plugin: ClassVar[object]
    settings: ClassVar[Mapping[str, Mapping[str, str]]] = {}

    @pytest.fixture
    def channels(self) -> Channels:
        pm = create_plugin_manager(load_entrypoints=False, extra=[self.plugin])
        return Channels(pm, settings=self.settings)

    @pytest.fixture
    def specs(self, channels: Channels) -> list[ChannelSpec]:
        return list(channels.specs.values())

    def test_declares_at_least_one_channel(self, specs: list[ChannelSpec]) -> None:
        assert specs, "register_channels returned no channel"

    def test_channel_names_are_lowercase_keys(self, specs: list[ChannelSpec]) -> None:
        for spec in specs:
            assert spec.name == spec.name.lower().strip() and ":" not in spec.name

    def test_rules_are_consistent(self, specs: list[ChannelSpec]) -> None:
        for spec in specs:
            rules = spec.rules
            assert 0 <= rules.min_items <= rules.max_items
            assert rules.max_images <= rules.max_items and rules.max_videos <= rules.max_items
            assert (rules.max_images == 0) == (rules.image is None)
            assert (rules.max_videos == 0) == (rules.video is None)
            assert rules.caption_max_length > 0 and spec.providers

    def test_rejects_unsupported_mime_type(self, channels: Channels, specs: list[ChannelSpec]) -> None:
        for spec in specs:
            item = make_image("image/x-unsupported") if spec.rules.image else make_video("video/x-unsupported")
            violations = channels.validate_post(spec.name, destination=None, post=make_post(item))
            assert any(v.rule == "mime_type" for v in violations)

    def test_rejects_too_many_items(self, channels: Channels, specs: list[ChannelSpec]) -> None:
        for spec in specs:
            maker = make_image if spec.rules.image else make_video
            items = [maker(id=f"ast_{i}") for i in range(spec.rules.max_items + 1)]
            violations = channels.validate_post(spec.name, destination=None, post=make_post(*items))
            assert any(v.rule in {"max_items", "max_images", "max_videos"} for v in violations)

    def test_violations_name_limit_and_value(self, channels: Channels, specs: list[ChannelSpec]) -> None:
        for spec in specs:
            caption = "x" * (spec.rules.caption_max_length + 1)
            maker = make_image if spec.rules.image else make_video
            violations = channels.validate_post(spec.name, destination=None, post=make_post(maker(), caption=caption))
            caption_errors = [v for v in violations if v.field == "caption"]
            assert caption_errors
            assert str(spec.rules.caption_max_length) in caption_errors[0].message
            assert str(len(caption)) in caption_errors[0].message


def assert_handle_round_trips(outcome: PublishOutcome) -> None:
    """A handle must survive the database's JSON round trip unchanged."""
    assert json.loads(json.dumps(dict(outcome.handle))) == dict(outcome.handle)


def expired_credentials() -> Credentials:
    from datetime import UTC, datetime, timedelta

    return Credentials(access_token="expired", refresh_token="refresh",
                       expires_at=datetime.now(UTC) - timedelta(hours=1))


class LocalPacer:
    """An in-memory :class:`~plugins.types.Pacer` (sliding window) for tests."""

    def __init__(self, clock: Any = None) -> None:
        import time

        self._clock = clock or time.monotonic
        self._calls: dict[str, list[float]] = {}

    def reserve(self, bucket: str, *, limit: int, period_s: float) -> float:
        now = self._clock()
        calls = [t for t in self._calls.get(bucket, []) if t > now - period_s]
        self._calls[bucket] = calls
        if len(calls) < limit:
            calls.append(now)
            return 0.0
        return max(calls[0] + period_s - now, 0.001)
