"""POST /posts/{id}/publish and GET /job-runs/{id}: states, conflicts, fan-out, isolation (no worker)."""

# ruff: noqa: F811
from __future__ import annotations

import pytest

from core.db import session_scope
from core.models import JobRun, Post, PublishTarget
from tests.conftest import count_rows
from tests.pipeline_kit import (  # noqa: F401  (fixtures)
    app_config,
    connect_fake,
    fake_platform,
    make_post,
    post_status,
    publish,
    targets_of,
)

API = "/api/public/v1"


def test_publish_answers_202_with_a_queued_run_and_moves_the_post(client, sessions, tenant, app_config,
                                                                   redis_client):
    post_id = make_post(sessions, tenant, connect_fake(sessions, tenant, app_config))
    run = publish(client, tenant, post_id)
    assert run["status"] == "queued" and run["kind"] == "publish" and run["steps"] == []
    assert run["attempts"] == 0 and run["startedAt"] is None and run["createdAt"].endswith("Z")
    assert post_status(sessions, post_id) == "publishing"
    queue_name = app_config["MARKAESTRO_QUEUE_NAME"]
    assert redis_client.lrange(f"rq:queue:{queue_name}", 0, -1) == [f"publish-{run['id']}-0".encode()]


@pytest.mark.parametrize("status", ["publishing", "published", "canceled"])
def test_publishing_a_post_that_is_not_publishable_is_409(client, sessions, tenant, app_config, status):
    post_id = make_post(sessions, tenant, connect_fake(sessions, tenant, app_config), status=status)
    response = client.post(f"{API}/posts/{post_id}/publish", headers=tenant.headers)
    assert response.status_code == 409
    assert response.get_json()["code"] == "post_not_publishable"
    assert count_rows(sessions, JobRun) == 0


def test_publishing_twice_is_409_and_creates_one_run(client, sessions, tenant, app_config):
    post_id = make_post(sessions, tenant, connect_fake(sessions, tenant, app_config))
    publish(client, tenant, post_id)
    assert client.post(f"{API}/posts/{post_id}/publish", headers=tenant.headers).status_code == 409
    assert count_rows(sessions, JobRun) == 1


def test_another_workspaces_post_and_run_are_404(client, sessions, tenant, other_tenant, app_config):
    post_id = make_post(sessions, tenant, connect_fake(sessions, tenant, app_config))
    run = publish(client, tenant, post_id)
    assert client.post(f"{API}/posts/{post_id}/publish", headers=other_tenant.headers).status_code == 404
    foreign = client.get(f"{API}/job-runs/{run['id']}", headers=other_tenant.headers)
    missing = client.get(f"{API}/job-runs/run_doesnotexist", headers=other_tenant.headers)
    assert foreign.status_code == missing.status_code == 404
    assert foreign.get_json()["code"] == missing.get_json()["code"] == "not_found"


def test_a_run_is_committed_queued_when_redis_is_down(app_config, sessions, tenant):
    from core import create_app
    from plugins.testing import fake_channel

    down = create_app({**app_config, "MARKAESTRO_REDIS_URL": "redis://127.0.0.1:1/0"}, plugins=(fake_channel,))
    post_id = make_post(sessions, tenant, connect_fake(sessions, tenant, app_config))
    response = down.test_client().post(f"{API}/posts/{post_id}/publish", headers=tenant.headers)
    assert response.status_code == 202
    assert response.get_json()["status"] == "queued"
    assert post_status(sessions, post_id) == "publishing"
    down.extensions["markaestro.engine"].dispose()


def test_a_post_no_channel_accepts_is_422_and_nothing_changes(client, sessions, tenant, app_config):
    post_id = make_post(sessions, tenant, connect_fake(sessions, tenant, app_config), caption="forbidden word")
    response = client.post(f"{API}/posts/{post_id}/publish", headers=tenant.headers)
    assert response.status_code == 422
    assert response.get_json()["code"] == "validation_failed"
    assert post_status(sessions, post_id) == "draft"
    assert count_rows(sessions, JobRun) == count_rows(sessions, PublishTarget) == 0


def test_fan_out_skips_a_target_whose_own_rules_reject_the_post(client, sessions, tenant, app_config):
    connect_fake(sessions, tenant, app_config, channel="fakegram", account="ig_1")
    page = connect_fake(sessions, tenant, app_config, fan_out=["fake:fake:acct_1", "fakegram:fake:ig_1"])
    post_id = make_post(sessions, tenant, page, caption="text only")
    publish(client, tenant, post_id)
    page_target, ig_target = targets_of(sessions, post_id)
    assert (page_target.target, page_target.status) == ("fake:fake:acct_1", "pending")
    assert (ig_target.target, ig_target.status) == ("fakegram:fake:ig_1", "skipped")
    assert ig_target.error["code"] == "rejected_by_channel_rules" and "media" in ig_target.error["message"]


def test_republishing_a_partially_published_post_retries_only_unpublished_targets(client, sessions, tenant,
                                                                                   app_config):
    connect_fake(sessions, tenant, app_config, account="acct_2")
    page = connect_fake(sessions, tenant, app_config, fan_out=["fake:fake:acct_1", "fake:fake:acct_2"])
    post_id = make_post(sessions, tenant, page)
    publish(client, tenant, post_id)
    with session_scope(sessions) as session:
        first, second = session.query(PublishTarget).order_by(PublishTarget.position).all()
        first.status, first.external_id = "published", "fp_1"
        second.status, second.error = "failed", {"code": "x", "message": "x", "retryable": True, "platformCode": None}
        session.get(Post, post_id).status = "partially_published"
    publish(client, tenant, post_id)
    first, second = targets_of(sessions, post_id)
    assert (first.status, first.external_id) == ("published", "fp_1")
    assert (second.status, second.error) == ("pending", None)
