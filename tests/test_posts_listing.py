"""GET /posts: newest first, cursor pagination, filters, bad query values, and publish results."""

from __future__ import annotations

import pytest

from core.db import session_scope
from core.ids import new_id
from core.models import Destination, Post, PublishTarget
from core.services import catalog
from core.timeutil import utcnow

pytest_plugins = ["tests.posts_support"]


@pytest.fixture
def five_posts(api, destination, tenant):
    return [api.create_ok(channel="fake", productId=tenant.product_id, caption=f"post {i}") for i in range(5)]


def newest_first(posts):
    return [p["id"] for p in sorted(posts, key=lambda p: (p["createdAt"], p["id"]), reverse=True)]


def test_cursor_walk_with_limit_two_visits_every_post_once_newest_first(api, five_posts):
    seen, cursor, pages = [], None, 0
    while True:
        query = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        response = api.list(**query)
        assert response.status_code == 200
        body = response.get_json()
        assert len(body["data"]) == (2 if pages < 2 else 1)
        seen += [p["id"] for p in body["data"]]
        pages, cursor = pages + 1, body["nextCursor"]
        if cursor is None:
            break
    assert pages == 3
    assert seen == newest_first(five_posts)


def test_list_items_are_full_post_documents(api, five_posts):
    listed = {p["id"]: p for p in api.list().get_json()["data"]}
    assert listed == {p["id"]: p for p in five_posts}


def test_default_page_has_no_next_cursor_when_everything_fits(api, five_posts):
    assert api.list().get_json()["nextCursor"] is None


def test_filter_by_status(api, five_posts, future, tenant):
    scheduled = api.create_ok(channel="fake", productId=tenant.product_id, scheduledAt=future().isoformat())
    api.delete(five_posts[0]["id"])
    assert [p["id"] for p in api.list(status="scheduled").get_json()["data"]] == [scheduled["id"]]
    assert [p["id"] for p in api.list(status="canceled").get_json()["data"]] == [five_posts[0]["id"]]
    assert len(api.list(status="draft").get_json()["data"]) == 4
    assert api.list(status="published").get_json()["data"] == []


def test_filter_by_product(api, connect, five_posts, sessions, tenant):
    with session_scope(sessions) as session:
        second = catalog.create_product(session, tenant.workspace_id, "Second").id
    connect("acct_2", product_id=second)
    other = api.create_ok(channel="fake", productId=second)
    assert [p["id"] for p in api.list(productId=second).get_json()["data"]] == [other["id"]]
    assert len(api.list(productId=tenant.product_id).get_json()["data"]) == 5


def test_filter_by_channel(api, five_posts, sessions, tenant):
    with session_scope(sessions) as session:
        meta = Destination(id=new_id("dst"), workspace_id=tenant.workspace_id, product_id=tenant.product_id,
                           channel="meta", provider="meta", account_id="page_1")
        session.add(meta)
        session.flush()
        session.add(Post(id=new_id("pst"), workspace_id=tenant.workspace_id, product_id=tenant.product_id,
                         channel="meta", destination_id=meta.id, caption="", media_asset_ids=[], options={}))
    assert [p["channel"] for p in api.list(channel="meta").get_json()["data"]] == ["meta"]
    assert len(api.list(channel="fake").get_json()["data"]) == 5


def test_filters_combine(api, five_posts, tenant):
    api.delete(five_posts[1]["id"])
    data = api.list(status="canceled", channel="fake", productId=tenant.product_id).get_json()["data"]
    assert [p["id"] for p in data] == [five_posts[1]["id"]]


@pytest.mark.parametrize("query", [{"status": "deleted"}, {"limit": 0}, {"limit": 101}, {"colour": "red"}])
def test_bad_query_values_are_a_400(api, query):
    response = api.list(**query)
    assert response.status_code == 400
    assert response.get_json()["code"] == "invalid_query"


def test_a_cursor_the_api_did_not_issue_is_a_400(api):
    response = api.list(cursor="not-a-cursor")
    assert response.status_code == 400
    assert response.get_json()["code"] == "invalid_cursor"


def test_publish_results_come_from_targets_in_position_order(api, destination, sessions, tenant):
    post = api.create_ok(channel="fake", productId=tenant.product_id)
    with session_scope(sessions) as session:
        row = session.get(Post, post["id"])
        row.status, row.latest_job_run_id, row.next_action = "partially_published", "run_123", None
        failure = {"code": "media_rejected", "message": "Try a JPEG.", "retryable": False, "platformCode": "2207"}
        session.add_all([
            PublishTarget(post_id=row.id, target="fakegram:fake:ig_1", destination_id=row.destination_id,
                          position=1, status="failed", error=failure, updated_at=utcnow()),
            PublishTarget(post_id=row.id, target=destination, destination_id=row.destination_id, position=0,
                          status="published", external_id="123_456", url="https://fake.test/p/123_456",
                          updated_at=utcnow()),
        ])
    body = api.get(post["id"]).get_json()
    assert (body["status"], body["latestJobRunId"]) == ("partially_published", "run_123")
    first, second = body["publishResults"]
    assert {k: first[k] for k in ("target", "status", "externalId", "url", "error")} == {
        "target": destination, "status": "published", "externalId": "123_456",
        "url": "https://fake.test/p/123_456", "error": None}
    assert (second["target"], second["status"], second["error"]) == ("fakegram:fake:ig_1", "failed", failure)
    assert list(first) == ["target", "status", "externalId", "url", "error", "updatedAt"]
    assert first["updatedAt"].endswith("Z")
    assert api.list().get_json()["data"][0]["publishResults"] == body["publishResults"]
