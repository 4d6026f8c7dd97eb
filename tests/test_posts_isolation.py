"""Tenant isolation on every posts route: another workspace's post is a 404 exactly like a missing one."""

from __future__ import annotations

import pytest

pytest_plugins = ["tests.posts_support"]


@pytest.fixture
def foreign_post(other_api, connect, other_tenant):
    connect("acct_globex", owner=other_tenant)
    return other_api.create_ok(channel="fake", productId=other_tenant.product_id, caption="Globex secret")


@pytest.fixture
def own_post(api, destination, tenant):
    return api.create_ok(channel="fake", productId=tenant.product_id, caption="Acme post")


@pytest.mark.parametrize("call", [
    lambda api, post_id: api.get(post_id),
    lambda api, post_id: api.patch(post_id, caption="hijacked"),
    lambda api, post_id: api.delete(post_id),
], ids=["get", "patch", "delete"])
def test_another_workspaces_post_is_a_404_like_a_missing_one(api, foreign_post, problem_sans_ids, call):
    foreign = call(api, foreign_post["id"])
    missing = call(api, "pst_doesnotexist")
    assert foreign.status_code == missing.status_code == 404
    assert problem_sans_ids(foreign) == problem_sans_ids(missing)
    assert "Globex" not in foreign.get_data(as_text=True)


def test_foreign_edits_and_cancels_change_nothing(api, other_api, foreign_post):
    api.patch(foreign_post["id"], caption="hijacked")
    api.delete(foreign_post["id"])
    assert other_api.get(foreign_post["id"]).get_json() == foreign_post


def test_lists_never_include_another_workspaces_posts(api, other_api, own_post, foreign_post):
    assert [p["id"] for p in api.list().get_json()["data"]] == [own_post["id"]]
    assert [p["id"] for p in other_api.list().get_json()["data"]] == [foreign_post["id"]]


def test_filtering_by_a_foreign_product_returns_nothing(api, own_post, foreign_post, other_tenant):
    response = api.list(productId=other_tenant.product_id)
    assert response.status_code == 200
    assert response.get_json() == {"data": [], "nextCursor": None}


def test_a_foreign_posts_status_filter_still_shows_only_own_posts(api, own_post, foreign_post):
    assert [p["id"] for p in api.list(status="draft", channel="fake").get_json()["data"]] == [own_post["id"]]


def test_routes_need_an_api_key(client, own_post):
    for method, path in [("get", "/api/public/v1/posts"), ("post", "/api/public/v1/posts"),
                         ("get", f"/api/public/v1/posts/{own_post['id']}"),
                         ("patch", f"/api/public/v1/posts/{own_post['id']}"),
                         ("delete", f"/api/public/v1/posts/{own_post['id']}")]:
        response = getattr(client, method)(path, json={})
        assert response.status_code == 401, (method, path)
