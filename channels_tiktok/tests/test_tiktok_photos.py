"""Photo inbox posts: content/init with PULL_FROM_URL, the sandbox really fetches the URLs."""

from __future__ import annotations

import io

from PIL import Image
from tiktok_support import Account, MediaServer, Sandbox

from plugins.manager import Channels
from plugins.testing import LocalPacer, make_image, make_post
from plugins.types import PublishState

CONTENT_INIT = "POST /v2/post/publish/content/init/"
STATUS = "POST /v2/post/publish/status/fetch/"


def image_bytes(fmt: str, size: tuple[int, int] = (1080, 1350)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 40, 90)).save(buffer, fmt)
    return buffer.getvalue()


def photos(media_server: MediaServer, count: int, fmt: str = "JPEG", mime: str = "image/jpeg") -> list:  # type: ignore[type-arg]
    data = image_bytes(fmt)
    return [make_image(mime, id=f"ast_{i}", url=media_server.add(f"p{i}.{fmt.lower()}", data, mime))
            for i in range(count)]


def publish(channels: Channels, account: Account, post, pacer: LocalPacer):  # type: ignore[no-untyped-def]
    kwargs = {"destination": account.destination, "post": post, "credentials": account.credentials, "pacer": pacer}
    init = channels.publish_step("tiktok", handle={}, **kwargs)
    return init, channels.poll_publish("tiktok", handle=init.handle, **kwargs)


def test_photos_pulled_and_handed_off(channels: Channels, sandbox: Sandbox, account: Account,
                                      media_server: MediaServer, pacer: LocalPacer) -> None:
    items = photos(media_server, 3)
    post = make_post(*items, caption="Spring drop", options={"title": "New colours", "coverIndex": 1})
    init, handed = publish(channels, account, post, pacer)
    assert init.state == PublishState.WAITING and init.handle["publish_id"].startswith("p_pub_url~v2.")
    assert sandbox.state.log[0].body == {
        "post_info": {"title": "New colours", "description": "Spring drop"},
        "source_info": {"source": "PULL_FROM_URL", "photo_cover_index": 1,
                        "photo_images": [item.url for item in items]},
        "post_mode": "MEDIA_UPLOAD", "media_type": "PHOTO"}
    assert handed.state == PublishState.HANDED_OFF and handed.external_id == init.handle["publish_id"]
    assert sandbox.calls() == [f"{CONTENT_INIT} 200 ok", f"{STATUS} 200 ok"]
    publish_record = sandbox.state.publishes[init.handle["publish_id"]]
    assert publish_record.downloaded == 3 * len(image_bytes("JPEG"))


def test_webp_accepted(channels: Channels, account: Account, media_server: MediaServer, pacer: LocalPacer) -> None:
    post = make_post(*photos(media_server, 2, "WEBP", "image/webp"))
    _, handed = publish(channels, account, post, pacer)
    assert handed.state == PublishState.HANDED_OFF


def test_png_url_is_rejected_by_tiktok(channels: Channels, account: Account, media_server: MediaServer,
                                       pacer: LocalPacer) -> None:
    post = make_post(*photos(media_server, 1, "PNG", "image/png"))
    _, failed = publish(channels, account, post, pacer)
    assert failed.state == PublishState.FAILED
    assert failed.platform_code == "file_format_check_failed" and failed.error_code == "unsupported_format"


def test_oversized_picture_fails(channels: Channels, account: Account, media_server: MediaServer,
                                 pacer: LocalPacer) -> None:
    url = media_server.add("big.jpg", image_bytes("JPEG", (2400, 1600)), "image/jpeg")
    _, failed = publish(channels, account, make_post(make_image(url=url)), pacer)
    assert failed.state == PublishState.FAILED and failed.platform_code == "picture_size_check_failed"


def test_unreachable_photo_restarts_then_fails(channels: Channels, sandbox: Sandbox, account: Account,
                                               media_server: MediaServer, pacer: LocalPacer) -> None:
    post = make_post(make_image(url=f"{media_server.url}/missing.jpg"))
    kwargs = {"destination": account.destination, "post": post, "credentials": account.credentials, "pacer": pacer}
    handle: dict = {}  # type: ignore[type-arg]
    for attempt in range(3):
        init = channels.publish_step("tiktok", handle=handle, **kwargs)
        outcome = channels.poll_publish("tiktok", handle=init.handle, **kwargs)
        handle = dict(outcome.handle)
        if attempt < 2:
            assert outcome.state == PublishState.CONTINUE and "photo_pull_failed" in outcome.detail
    assert outcome.state == PublishState.FAILED and outcome.error_code == "media_fetch_failed"
    assert len([c for c in sandbox.calls() if c.startswith(CONTENT_INIT)]) == 3
