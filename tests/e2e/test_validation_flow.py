"""Channel rules at creation through the installed plugins (spec §2.4, §3): 422 and nothing created."""

from __future__ import annotations

from typing import Any

from tests.media_samples import jpeg, mp4

from .conftest import Client


def _refused(api: Client, body: dict[str, Any]) -> dict[str, Any]:
    response = api.post("/posts", {"productId": api.tenant.product_id, **body})
    assert response.status_code == 422, response.text
    assert response.headers["Content-Type"] == "application/problem+json"
    problem = dict(response.json())
    assert problem["code"] == "validation_failed" and problem["status"] == 422
    return problem


def _no_posts(api: Client) -> None:
    assert api.get("/posts")["data"] == []


def test_eleven_images_on_instagram_are_refused(api: Client, instagram_destination: str) -> None:
    image = jpeg((1080, 1080))
    ids = [api.upload(image, f"{n}.jpg")["id"] for n in range(11)]

    problem = _refused(api, {"channel": "instagram", "mediaAssetIds": ids, "caption": "Too many"})

    assert problem["detail"] == "instagram accepts at most 10 media items; got 11 (and 1 more problem)", problem
    assert problem["errors"] == {"mediaAssetIds": ["instagram accepts at most 10 media items; got 11",
                                                   "instagram accepts at most 10 images per post; got 11"]}, problem
    _no_posts(api)


def test_text_only_tiktok_post_is_refused(api: Client, tiktok_destination: str) -> None:
    problem = _refused(api, {"channel": "tiktok", "caption": "Words alone", "mediaAssetIds": []})
    print(problem)

    assert problem["errors"].get("mediaAssetIds"), problem
    _no_posts(api)


def test_mixing_an_image_and_a_video_on_tiktok_is_refused(api: Client, tiktok_destination: str) -> None:
    ids = [api.upload(jpeg((1080, 1350)), "one.jpg")["id"], api.upload(mp4(720, 1280, 5000), "two.mp4")["id"]]

    problem = _refused(api, {"channel": "tiktok", "caption": "Mixed", "mediaAssetIds": ids})

    assert problem["errors"] == {"mediaAssetIds": ["tiktok does not mix images and videos in one post; "
                                                   "got 1 image and 1 video"]}, problem
    _no_posts(api)
