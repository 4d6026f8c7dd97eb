"""Instagram through containers end to end (spec §2.3–§2.6, §3): image, PNG, carousel, Reel, container error."""

from __future__ import annotations

from typing import Any

from tests.media_samples import image_bytes, jpeg, mp4

from .conftest import IG_USER, Client, Instagram, LiveApp, Served, assert_succeeded

#: what a single-item publish asks of the Graph API, in order (media_publish exactly once)
SINGLE_ITEM_CALLS = ["POST media", "GET container", "GET container", "GET content_publishing_limit",
                     "POST media_publish", "GET media_object"]


def _published(post: dict[str, Any], instagram: Instagram, destination: str) -> dict[str, Any]:
    """The post's one result, checked to be the sandbox's published media with its permalink."""
    assert post["status"] == "published" and post["nextAction"] is None, post
    [result] = post["publishResults"]
    assert result["target"] == destination and result["status"] == "published" and result["error"] is None
    media = instagram.state.media[result["externalId"]]
    assert media.owner == IG_USER and result["url"] == media.permalink
    return result


def _path(url: str, live: tuple[LiveApp, Served]) -> str:
    assert url.startswith(live[1].url + "/media/"), url
    return url[len(live[1].url):]


def test_single_jpeg_is_published_with_its_permalink(api: Client, instagram: Instagram, instagram_destination: str,
                                                      worker: Any, live: tuple[LiveApp, Served],
                                                      events: Any) -> None:
    photo = api.upload(jpeg((1080, 1350)), "launch-1.jpg")
    post = api.create_post("instagram", [photo], caption="Launch day", destinationId=instagram_destination)

    run, post = api.publish_to_the_end(post["id"])

    assert_succeeded(run)
    result = _published(post, instagram, instagram_destination)
    assert result["url"].startswith("https://www.instagram.com/p/")
    assert instagram.endpoints() == SINGLE_ITEM_CALLS
    [container] = instagram.params("POST media")
    assert container["image_url"] == photo["url"] and container["caption"] == "Launch day"
    assert [(h.path, h.status, h.content_type) for h in live[0].media_hits()] == [
        (_path(photo["url"], live), 200, "image/jpeg")]
    [published] = [e for e in events() if e["type"] == "post.published"]
    assert published["data"]["externalId"] == result["externalId"] and published["data"]["status"] == "published"


def test_png_reaches_instagram_as_a_jpeg_rendition(api: Client, instagram: Instagram, instagram_destination: str,
                                                   worker: Any, live: tuple[LiveApp, Served]) -> None:
    png = api.upload(image_bytes("PNG", (1080, 1080)), "launch.png")
    assert png["mimeType"] == "image/png"
    post = api.create_post("instagram", [png], caption="Launch day")

    run, post = api.publish_to_the_end(post["id"])

    assert_succeeded(run)
    _published(post, instagram, instagram_destination)
    [container] = instagram.params("POST media")
    assert container["image_url"] != png["url"]
    fetched = {h.path: (h.status, h.content_type) for h in live[0].media_hits()}
    assert fetched == {_path(container["image_url"], live): (200, "image/jpeg")}
    assert api.get(f"/media/{png['id']}")["mimeType"] == "image/png"  # the original is untouched


def test_mixed_carousel_is_published_in_the_posts_order(api: Client, instagram: Instagram,
                                                        instagram_destination: str, worker: Any) -> None:
    items = [api.upload(jpeg((1080, 1080)), "one.jpg"), api.upload(mp4(720, 1280, 5000), "two.mp4"),
             api.upload(jpeg((1080, 1350)), "three.jpg")]
    post = api.create_post("instagram", items, caption="Three of a kind")

    run, post = api.publish_to_the_end(post["id"])

    assert_succeeded(run)
    result = _published(post, instagram, instagram_destination)
    assert instagram.state.media[result["externalId"]].media_type == "CAROUSEL_ALBUM"
    children, parent = instagram.params("POST media")[:3], instagram.params("POST media")[3]
    assert [c.get("image_url") or c.get("video_url") for c in children] == [i["url"] for i in items]
    assert [c.get("media_type", "IMAGE") for c in children] == ["IMAGE", "VIDEO", "IMAGE"]
    assert all(c["is_carousel_item"] == "true" for c in children)
    child_ids = [cid for cid, c in instagram.state.containers.items() if c.is_carousel_item]
    assert parent["media_type"] == "CAROUSEL" and parent["caption"] == "Three of a kind"
    assert parent["children"].split(",") == child_ids
    assert instagram.endpoints().count("POST media_publish") == 1


def test_single_video_is_published_as_a_reel(api: Client, instagram: Instagram, instagram_destination: str,
                                             worker: Any) -> None:
    video = api.upload(mp4(720, 1280, 5000), "reel.mp4")
    post = api.create_post("instagram", [video], caption="Behind the scenes")

    run, post = api.publish_to_the_end(post["id"])

    assert_succeeded(run)
    result = _published(post, instagram, instagram_destination)
    assert result["url"].startswith("https://www.instagram.com/reel/")
    [container] = instagram.params("POST media")
    assert container["media_type"] == "REELS" and container["video_url"] == video["url"]
    assert instagram.endpoints()[-2:] == ["POST media_publish", "GET media_object"]


def test_container_error_fails_the_post_with_instagrams_reason(api: Client, instagram: Instagram,
                                                               instagram_destination: str, worker: Any,
                                                               events: Any) -> None:
    instagram.fault(kind="processing_error", endpoint="POST media", subcode=2207026)
    video = api.upload(mp4(720, 1280, 5000), "reel.mp4")
    post = api.create_post("instagram", [video], caption="Behind the scenes")

    run, post = api.publish_to_the_end(post["id"])

    assert run["status"] == "failed" and run["error"]["code"] == "targets_failed", run
    assert post["status"] == "failed" and post["nextAction"] is None
    [result] = post["publishResults"]
    assert result["status"] == "failed" and result["externalId"] is None
    error = result["error"]
    assert "2207026" in error["message"] and "ERROR" in error["message"], error
    assert error["platformCode"].startswith("ERROR") and error["retryable"] is False
    assert "POST media_publish" not in instagram.endpoints()
    assert {e["type"] for e in events()} == {"post.failed", "job_run.failed"}


def test_failed_post_published_again_creates_new_containers_and_succeeds(api: Client, instagram: Instagram,
                                                                         instagram_destination: str,
                                                                         worker: Any) -> None:
    instagram.fault(kind="processing_error", endpoint="POST media", subcode=2207026)
    video = api.upload(mp4(720, 1280, 5000), "reel.mp4")
    post = api.create_post("instagram", [video], caption="Behind the scenes")
    first, post = api.publish_to_the_end(post["id"])
    assert first["status"] == "failed" and post["status"] == "failed"

    second, post = api.publish_to_the_end(post["id"])

    assert_succeeded(second)
    assert second["id"] != first["id"] and post["latestJobRunId"] == second["id"]
    _published(post, instagram, instagram_destination)
    assert instagram.endpoints().count("POST media") == 2 and instagram.endpoints().count("POST media_publish") == 1
