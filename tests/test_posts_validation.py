"""Bad input to POST /posts: every failure is a 422 (or 400) naming the field, and nothing is created.

The rules are the in-repo ``fake`` channel's: text-only allowed, at most 4
items, 4 images or 1 video, no mixing, 280-character captions, image aspect
ratios 0.5–2.0, videos 1–60 s, an optional ``title`` option (≤ 90 chars).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.models import Post
from tests.conftest import count_rows

pytest_plugins = ["tests.posts_support"]


@pytest.fixture
def create_invalid(api, destination, sessions, tenant):
    """POST a post with ``fields`` expecting a 422 problem; assert nothing was stored; return the body."""

    def create(status=422, **fields):
        response = api.create(**{"channel": "fake", "productId": tenant.product_id, **fields})
        assert response.status_code == status, response.get_json()
        assert response.content_type == "application/problem+json"
        assert count_rows(sessions, Post) == 0
        return response.get_json()

    return create


def test_too_many_media_items(create_invalid, media):
    body = create_invalid(mediaAssetIds=[media() for _ in range(5)])
    assert body["code"] == "validation_failed"
    assert "fake accepts at most 4 media items; got 5" in body["errors"]["mediaAssetIds"]
    assert body["detail"].startswith("fake accepts at most 4 media items; got 5")


def test_a_single_violation_is_the_whole_detail(create_invalid):
    body = create_invalid(caption="x" * 281)
    assert body["errors"] == {"caption": ["fake captions are at most 280 characters; got 281"]}
    assert body["detail"] == "fake captions are at most 280 characters; got 281"


def test_mixed_media(create_invalid, media):
    body = create_invalid(mediaAssetIds=[media("image"), media("video")])
    assert body["errors"]["mediaAssetIds"] == [
        "fake does not mix images and videos in one post; got 1 image and 1 video"]


def test_media_metadata_rules_name_the_asset_limit_and_value(create_invalid, media):
    wide = media("image", width=3000, height=1000)
    long_video = media("video", duration_seconds=61.0)
    assert create_invalid(mediaAssetIds=[wide])["errors"]["mediaAssetIds"] == [
        f"fake accepts image aspect ratios from 0.50:1 to 2:1; {wide} is 3000x1000 (3.00:1)"]
    assert create_invalid(mediaAssetIds=[long_video])["errors"]["mediaAssetIds"] == [
        f"fake accepts a video duration of at most 60 s; {long_video} has 61 s"]


def test_media_type_the_channel_does_not_take(create_invalid, media):
    gif = media("image", mime_type="image/gif")
    message = create_invalid(mediaAssetIds=[gif])["errors"]["mediaAssetIds"][0]
    assert gif in message and "image/gif" in message


def test_option_schema_errors_are_named_by_option(create_invalid):
    body = create_invalid(options={"title": "t" * 91})
    assert list(body["errors"]) == ["options.title"]
    assert "90" in body["errors"]["options.title"][0]


def test_unknown_option(create_invalid):
    body = create_invalid(options={"visibility": "PUBLIC"})
    assert list(body["errors"]) == ["options.visibility"]


def test_the_channels_own_rules_apply(create_invalid):
    body = create_invalid(caption="This is forbidden")
    assert body["errors"]["caption"] == ['fake refuses captions containing "forbidden"']


def test_unknown_media_ids_are_named(create_invalid, media):
    known = media()
    body = create_invalid(mediaAssetIds=[known, "ast_missing1", "ast_missing2"])
    assert body["errors"]["mediaAssetIds"] == ["unknown media asset ids: ast_missing1, ast_missing2"]


def test_another_workspaces_media_is_unknown(create_invalid, media, other_tenant):
    foreign = media(owner=other_tenant)
    body = create_invalid(mediaAssetIds=[foreign])
    assert body["errors"]["mediaAssetIds"] == [f"unknown media asset ids: {foreign}"]


def test_a_media_id_listed_twice_is_refused(create_invalid, media):
    again = media()
    body = create_invalid(mediaAssetIds=[again, again])
    assert body["errors"]["mediaAssetIds"] == [f"media asset ids listed more than once: {again}"]


def test_naive_scheduled_at(create_invalid):
    body = create_invalid(scheduledAt="2030-05-01T09:00:00")
    assert list(body["errors"]) == ["scheduledAt"]
    assert "offset" in body["errors"]["scheduledAt"][0]


def test_scheduled_at_in_the_past(create_invalid):
    past = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
    body = create_invalid(scheduledAt=past)
    assert body["errors"]["scheduledAt"][0].startswith("must be in the future")


def test_unparseable_scheduled_at(create_invalid):
    assert "scheduledAt" in create_invalid(scheduledAt="next tuesday")["errors"]


def test_unknown_channel_names_the_installed_ones(create_invalid):
    body = create_invalid(channel="myspace")
    [message] = body["errors"]["channel"]
    assert message.startswith("'myspace' is not an installed channel; installed: ")
    assert "fake" in message.split("installed: ")[1].split(", ")


def test_unknown_fields_are_refused(create_invalid):
    body = create_invalid(caption="hi", colour="blue")
    assert body["code"] == "validation_failed"
    assert list(body["errors"]) == ["colour"]


def test_snake_case_fields_are_unknown(create_invalid, tenant):
    body = create_invalid(product_id=tenant.product_id)
    assert "product_id" in body["errors"]


def test_channel_and_product_are_required(api, sessions):
    response = api.create(caption="hi")
    assert response.status_code == 422
    assert set(response.get_json()["errors"]) == {"channel", "productId"}
    assert count_rows(sessions, Post) == 0


def test_unknown_product_is_a_field_error(create_invalid):
    body = create_invalid(productId="prod_missing")
    assert body["errors"] == {"productId": ["no product 'prod_missing' in this workspace"]}


def test_another_workspaces_product_is_like_an_unknown_one(create_invalid, other_tenant):
    body = create_invalid(productId=other_tenant.product_id)
    assert body["errors"] == {"productId": [f"no product {other_tenant.product_id!r} in this workspace"]}


def test_field_problems_are_reported_together(create_invalid):
    past = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    body = create_invalid(mediaAssetIds=["ast_missing"], scheduledAt=past)
    assert set(body["errors"]) == {"mediaAssetIds", "scheduledAt"}
    assert body["detail"].endswith("(and 1 more problem)")


def test_malformed_json_is_a_400(api, sessions):
    response = api.client.post("/api/public/v1/posts", data="{not json", headers={
        **api.tenant.headers, "Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.get_json()["code"] == "malformed_json"
    assert count_rows(sessions, Post) == 0
