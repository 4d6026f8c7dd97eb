"""Creating and reading posts, and how a post's destination is resolved (spec §2.4)."""

from __future__ import annotations

from datetime import UTC

from core.db import session_scope
from core.models import Post
from core.services import catalog
from core.timeutil import format_timestamp
from tests.conftest import count_rows

pytest_plugins = ["tests.posts_support"]


def test_creates_a_draft_with_defaults(api, destination, sessions, tenant):
    post = api.create_ok(channel="fake", productId=tenant.product_id)
    assert post["id"].startswith("pst_")
    assert post["productId"] == tenant.product_id
    assert post["destinationId"] == destination
    assert (post["caption"], post["mediaAssetIds"], post["options"]) == ("", [], {})
    assert post["status"] == "draft"
    assert post["scheduledAt"] is None
    assert post["latestJobRunId"] is None
    assert post["publishResults"] == []
    assert post["nextAction"] is None
    assert post["createdAt"].endswith("Z") and post["updatedAt"].endswith("Z")
    assert count_rows(sessions, Post) == 1


def test_the_post_object_has_exactly_the_spec_fields_in_order(api, destination, tenant):
    post = api.create_ok(channel="fake", productId=tenant.product_id)
    assert list(post) == ["id", "productId", "channel", "destinationId", "caption", "mediaAssetIds", "options",
                          "status", "scheduledAt", "createdAt", "updatedAt", "latestJobRunId", "publishResults",
                          "nextAction"]


def test_get_returns_the_created_post(api, destination, tenant, media):
    created = api.create_ok(channel="fake", productId=tenant.product_id, caption="Spring drop",
                            mediaAssetIds=[media()], options={"title": "Teaser"})
    response = api.get(created["id"])
    assert response.status_code == 200
    assert response.get_json() == created


def test_scheduled_at_makes_a_scheduled_post_stored_in_utc(api, destination, tenant, future):
    when = future(hours=48)
    post = api.create_ok(channel="fake", productId=tenant.product_id, scheduledAt=when.isoformat())
    assert when.isoformat().endswith("+02:00")
    assert post["status"] == "scheduled"
    assert post["scheduledAt"] == format_timestamp(when.astimezone(UTC))


def test_media_asset_ids_keep_their_order(api, destination, tenant, media):
    ids = [media(), media(), media()]
    ids.reverse()
    post = api.create_ok(channel="fake", productId=tenant.product_id, mediaAssetIds=ids)
    assert post["mediaAssetIds"] == ids
    assert api.get(post["id"]).get_json()["mediaAssetIds"] == ids


def test_destination_may_be_left_out_when_exactly_one_is_connected(api, connect, tenant):
    only = connect("acct_ok")
    connect("acct_stale", status="needs_reauth")
    connect("acct_off", status="disabled")
    post = api.create_ok(channel="fake", productId=tenant.product_id)
    assert post["destinationId"] == only == "fake:fake:acct_ok"


def test_destination_is_required_when_none_is_connected(api, connect, sessions, tenant):
    connect("acct_stale", status="needs_reauth")
    response = api.create(channel="fake", productId=tenant.product_id)
    assert response.status_code == 422
    body = response.get_json()
    assert body["code"] == "destination_required"
    assert "no connected fake destination" in body["detail"]
    assert "destinationId" in body["errors"]
    assert count_rows(sessions, Post) == 0


def test_destination_is_required_when_several_are_connected_and_candidates_are_listed(api, connect, sessions, tenant):
    first, second = connect("acct_a"), connect("acct_b")
    response = api.create(channel="fake", productId=tenant.product_id)
    assert response.status_code == 422
    assert response.content_type == "application/problem+json"
    body = response.get_json()
    assert body["code"] == "destination_required"
    assert first in body["detail"] and second in body["detail"]
    assert count_rows(sessions, Post) == 0


def test_a_given_destination_is_used_among_several(api, connect, tenant):
    connect("acct_a")
    second = connect("acct_b")
    post = api.create_ok(channel="fake", productId=tenant.product_id, destinationId=second)
    assert post["destinationId"] == second


def test_account_ids_containing_colons_resolve(api, connect, tenant):
    connect("acct_a")
    org = connect("urn:li:organization:123")
    assert org == "fake:fake:urn:li:organization:123"
    post = api.create_ok(channel="fake", productId=tenant.product_id, destinationId=org)
    assert post["destinationId"] == org
    assert api.get(post["id"]).get_json()["destinationId"] == org


def test_unknown_destination_is_a_field_error(api, destination, sessions, tenant):
    response = api.create(channel="fake", productId=tenant.product_id, destinationId="fake:fake:nobody")
    assert response.status_code == 422
    body = response.get_json()
    assert body["code"] == "validation_failed"
    assert "fake:fake:nobody" in body["errors"]["destinationId"][0]
    assert count_rows(sessions, Post) == 0


def test_malformed_destination_id_is_a_field_error(api, destination, tenant):
    response = api.create(channel="fake", productId=tenant.product_id, destinationId="fake:acct_1")
    assert response.status_code == 422
    assert "{channel}:{provider}:{accountId}" in response.get_json()["errors"]["destinationId"][0]


def test_destination_of_another_product_is_refused(api, connect, sessions, tenant):
    with session_scope(sessions) as session:
        other_product = catalog.create_product(session, tenant.workspace_id, "Other product").id
    elsewhere = connect("acct_elsewhere", product_id=other_product)
    connect("acct_here")
    response = api.create(channel="fake", productId=tenant.product_id, destinationId=elsewhere)
    assert response.status_code == 422
    expected = f"no destination {elsewhere!r} on product {tenant.product_id}"
    assert response.get_json()["errors"]["destinationId"] == [expected]


def test_another_workspaces_destination_is_refused(api, connect, destination, tenant, other_tenant):
    foreign = connect("acct_foreign", owner=other_tenant)
    response = api.create(channel="fake", productId=tenant.product_id, destinationId=foreign)
    assert response.status_code == 422
    assert "destinationId" in response.get_json()["errors"]


def test_destination_on_another_channel_is_refused(api, connect, tenant):
    connect("acct_1")
    meta = connect("page_1", channel="meta")
    response = api.create(channel="fake", productId=tenant.product_id, destinationId=meta)
    assert response.status_code == 422
    assert response.get_json()["errors"]["destinationId"] == [
        f"destination {meta!r} is on channel meta, not fake"]


def test_destination_needing_reauth_is_refused_with_a_clear_message(api, connect, sessions, tenant):
    stale = connect("acct_stale", status="needs_reauth")
    response = api.create(channel="fake", productId=tenant.product_id, destinationId=stale)
    assert response.status_code == 422
    message = response.get_json()["errors"]["destinationId"][0]
    assert stale in message and "reconnect" in message
    assert count_rows(sessions, Post) == 0


def test_disabled_destination_is_refused(api, connect, tenant):
    off = connect("acct_off", status="disabled")
    response = api.create(channel="fake", productId=tenant.product_id, destinationId=off)
    assert response.status_code == 422
    assert response.get_json()["errors"]["destinationId"] == [f"destination {off!r} is disabled"]


def test_missing_post_is_a_404_problem(api):
    response = api.get("pst_doesnotexist")
    assert response.status_code == 404
    assert response.content_type == "application/problem+json"
    assert response.get_json()["code"] == "not_found"


def test_an_idempotency_key_creates_the_post_once(api, destination, sessions, tenant):
    headers = {**tenant.headers, "Idempotency-Key": "create-post-1"}
    body = {"channel": "fake", "productId": tenant.product_id, "caption": "Once"}
    first = api.client.post("/api/public/v1/posts", json=body, headers=headers)
    again = api.client.post("/api/public/v1/posts", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.get_data() == first.get_data()
    assert count_rows(sessions, Post) == 1
