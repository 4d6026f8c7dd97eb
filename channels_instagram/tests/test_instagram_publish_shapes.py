"""Exact Graph call sequences for each media shape, over HTTP against the sandbox."""

from __future__ import annotations

from ig_support import IG_USER, Driver, MediaHost, Sandbox, post_of, settings_for

import channels_instagram
from plugins.manager import Channels, create_plugin_manager
from plugins.testing import assert_handle_round_trips
from plugins.types import Destination, PublishState


def test_single_image(driver: Driver, sandbox: Sandbox, media_host: MediaHost) -> None:
    image = media_host.jpeg("ast_img")
    outcome = driver.run(post_of(image, caption="Hello #launch", alt_text="A red square"))

    assert outcome.state == PublishState.PUBLISHED
    assert sandbox.calls() == ["POST media", "GET container", "GET container", "GET content_publishing_limit",
                               "POST media_publish", "GET media_object"]
    [create] = sandbox.params("POST media")
    assert create == {"image_url": image.url, "caption": "Hello #launch", "alt_text": "A red square"}
    container = driver.outcomes[0].handle["container"]
    assert sandbox.params("GET container")[0] == {"fields": "status_code,status"}
    assert sandbox.params("POST media_publish") == [{"creation_id": container}]
    assert sandbox.params("GET content_publishing_limit") == [{"fields": "quota_usage,config"}]
    media = sandbox.state.media[outcome.external_id or ""]
    assert outcome.url == media.permalink and outcome.url.startswith("https://www.instagram.com/p/")
    assert [o.state for o in driver.outcomes] == [PublishState.WAITING, PublishState.CONTINUE,
                                                  PublishState.CONTINUE, PublishState.PUBLISHED]
    assert driver.outcomes[0].poll_after_s == 5.0 and driver.outcomes[2].retry_safe
    for each in driver.outcomes:
        assert_handle_round_trips(each)
    paths = [r["path"] for r in sandbox.state.requests]
    assert paths[0] == f"/v25.0/{IG_USER}/media" and paths[4] == f"/v25.0/{IG_USER}/media_publish"


def test_reel(driver: Driver, sandbox: Sandbox, media_host: MediaHost) -> None:
    video = media_host.video("ast_vid")
    outcome = driver.run(post_of(video, caption="Reel time", share_to_feed=False, thumb_offset_ms=1500))

    assert outcome.state == PublishState.PUBLISHED and "/reel/" in (outcome.url or "")
    [create] = sandbox.params("POST media")
    assert create == {"media_type": "REELS", "video_url": video.url, "caption": "Reel time",
                      "share_to_feed": "false", "thumb_offset": "1500"}
    assert driver.outcomes[0].state == PublishState.WAITING and driver.outcomes[0].poll_after_s is None
    # IN_PROGRESS for 30 s of sandbox time, so the first poll (after 60 s) sees FINISHED
    assert sandbox.calls() == ["POST media", "GET container", "GET container", "GET content_publishing_limit",
                               "POST media_publish", "GET media_object"]
    assert sandbox.state.media[outcome.external_id or ""].product_type == "REELS"


def test_reel_in_progress_keeps_waiting(driver: Driver, sandbox: Sandbox, media_host: MediaHost) -> None:
    post = post_of(media_host.video("ast_vid"))
    first = driver.step(post, {})
    sandbox.advance(10)
    second = driver.poll(post, dict(first.handle))
    assert second.state == PublishState.WAITING and "IN_PROGRESS" in second.detail
    sandbox.advance(30)
    assert driver.poll(post, dict(second.handle)).state == PublishState.CONTINUE


def test_ten_item_mixed_carousel(driver: Driver, sandbox: Sandbox, media_host: MediaHost) -> None:
    items = [media_host.video(f"ast_{i}") if i in {2, 7} else media_host.jpeg(f"ast_{i}") for i in range(10)]
    outcome = driver.run(post_of(*items, caption="Ten of them"))

    assert outcome.state == PublishState.PUBLISHED
    creates = sandbox.params("POST media")
    assert len(creates) == 11
    for item, params in zip(items, creates[:10], strict=True):
        expected = ({"media_type": "VIDEO", "is_carousel_item": "true", "video_url": item.url}
                    if item.kind.value == "video" else {"is_carousel_item": "true", "image_url": item.url})
        assert params == expected
    children = [c["container"] for c in driver.outcomes[9].handle["children"]]
    assert [c["asset"] for c in driver.outcomes[9].handle["children"]] == [i.id for i in items]
    assert creates[10] == {"media_type": "CAROUSEL", "children": ",".join(children), "caption": "Ten of them"}
    assert sandbox.calls() == (["POST media"] * 10 + ["GET container"] * 10 + ["POST media", "GET container",
                               "GET container", "GET content_publishing_limit", "POST media_publish",
                               "GET media_object"])
    states = [o.state for o in driver.outcomes]
    assert states == [PublishState.CONTINUE] * 9 + [PublishState.WAITING, PublishState.CONTINUE,
                                                     PublishState.WAITING, PublishState.CONTINUE,
                                                     PublishState.CONTINUE, PublishState.PUBLISHED]
    assert sandbox.state.media[outcome.external_id or ""].media_type == "CAROUSEL_ALBUM"


def test_meta_provider_uses_the_facebook_host_settings(driver: Driver, sandbox: Sandbox,
                                                        media_host: MediaHost) -> None:
    settings = {"instagram": settings_for(sandbox.url, meta_graph_version="v24.0", instagram_graph_url="http://x.invalid")}
    driver.channels = Channels(create_plugin_manager(load_entrypoints=False, extra=[channels_instagram]), settings)
    driver.destination = Destination(channel="instagram", provider="meta", account_id="17841400000000777")
    outcome = driver.run(post_of(media_host.jpeg("ast_img")))
    assert outcome.state == PublishState.PUBLISHED
    assert sandbox.state.requests[0]["path"] == "/v24.0/17841400000000777/media"
