"""PATCH and DELETE /posts/{id}: only draft and scheduled posts change, validated like new posts."""

from __future__ import annotations

from datetime import UTC

import pytest

from core.channels import current_channels
from core.db import session_scope
from core.errors import Conflict
from core.ids import new_id
from core.models import Destination, Post
from core.services import posts as post_service
from core.services.post_checks import PostContext
from core.storage import storage_from_config
from core.timeutil import format_timestamp

pytest_plugins = ["tests.posts_support"]

LOCKED = ["publishing", "published", "partially_published", "exported_for_review", "failed", "canceled"]


@pytest.fixture
def draft(api, destination, tenant, media):
    return api.create_ok(channel="fake", productId=tenant.product_id, caption="First words",
                         mediaAssetIds=[media()], options={"title": "Teaser"})


def test_patch_changes_only_the_given_fields(api, draft, media):
    second = media()
    response = api.patch(draft["id"], caption="Better words", mediaAssetIds=[second, *draft["mediaAssetIds"]])
    assert response.status_code == 200
    body = response.get_json()
    assert body["caption"] == "Better words"
    assert body["mediaAssetIds"] == [second, *draft["mediaAssetIds"]]
    assert body["options"] == {"title": "Teaser"}
    assert body["status"] == "draft"
    assert api.get(draft["id"]).get_json() == body


def test_patch_schedules_a_draft_and_null_unschedules_it(api, draft, future):
    when = future(hours=3)
    scheduled = api.patch(draft["id"], scheduledAt=when.isoformat()).get_json()
    assert scheduled["status"] == "scheduled"
    assert scheduled["scheduledAt"] == format_timestamp(when.astimezone(UTC))
    unscheduled = api.patch(draft["id"], scheduledAt=None).get_json()
    assert (unscheduled["status"], unscheduled["scheduledAt"]) == ("draft", None)


def test_patch_keeps_the_schedule_of_a_scheduled_post(api, destination, tenant, future):
    post = api.create_ok(channel="fake", productId=tenant.product_id, scheduledAt=future().isoformat())
    body = api.patch(post["id"], caption="Edited").get_json()
    assert (body["status"], body["scheduledAt"]) == ("scheduled", post["scheduledAt"])


def test_patch_is_validated_like_a_new_post_and_changes_nothing_on_failure(api, draft, media):
    response = api.patch(draft["id"], caption="x" * 281, mediaAssetIds=[media() for _ in range(5)])
    assert response.status_code == 422
    assert set(response.get_json()["errors"]) == {"caption", "mediaAssetIds"}
    assert api.get(draft["id"]).get_json() == draft


@pytest.mark.parametrize(("field", "value", "message"), [
    ("scheduledAt", "2030-01-01T10:00:00", "offset"),
    ("scheduledAt", "2001-01-01T10:00:00Z", "must be in the future"),
    ("mediaAssetIds", ["ast_missing"], "unknown media asset ids: ast_missing"),
    ("options", {"colour": "red"}, "Unknown field"),
])
def test_patch_refuses_bad_fields(api, draft, field, value, message):
    response = api.patch(draft["id"], **{field: value})
    assert response.status_code == 422
    errors = response.get_json()["errors"]
    assert any(message in m for messages in errors.values() for m in messages), errors
    assert api.get(draft["id"]).get_json() == draft


@pytest.mark.parametrize("field", ["channel", "productId", "status", "id"])
def test_patch_refuses_fields_that_cannot_change(api, draft, field):
    response = api.patch(draft["id"], **{field: "x"})
    assert response.status_code == 422
    assert field in response.get_json()["errors"]


def test_an_empty_patch_changes_nothing(api, draft):
    response = api.patch(draft["id"])
    assert response.status_code == 200
    assert response.get_json() == draft


def test_a_post_whose_destination_needs_reauth_can_still_be_edited(api, draft, sessions):
    with session_scope(sessions) as session:
        session.get(Destination, session.get(Post, draft["id"]).destination_id).status = "needs_reauth"
    response = api.patch(draft["id"], caption="Fixed while we wait for the reconnect")
    assert response.status_code == 200
    assert response.get_json()["destinationId"] == draft["destinationId"]


def test_a_post_on_a_channel_no_longer_installed_cannot_be_edited(api, sessions, tenant):
    with session_scope(sessions) as session:
        gone = Destination(id=new_id("dst"), workspace_id=tenant.workspace_id, product_id=tenant.product_id,
                           channel="gone", provider="gone", account_id="acct_1")
        session.add(gone)
        session.flush()
        post = Post(id=new_id("pst"), workspace_id=tenant.workspace_id, product_id=tenant.product_id,
                    channel="gone", destination_id=gone.id, caption="", media_asset_ids=[], options={})
        session.add(post)
    response = api.patch(post.id, caption="hello")
    assert response.status_code == 422
    assert response.get_json()["errors"]["channel"][0].startswith("'gone' is not an installed channel")


def test_patch_moves_to_another_connected_destination(api, draft, connect):
    other = connect("acct_2")
    assert api.patch(draft["id"], destinationId=other).get_json()["destinationId"] == other


def test_patch_refuses_a_destination_needing_reauth(api, draft, connect):
    stale = connect("acct_stale", status="needs_reauth")
    response = api.patch(draft["id"], destinationId=stale)
    assert response.status_code == 422
    assert "reconnect" in response.get_json()["errors"]["destinationId"][0]
    assert api.get(draft["id"]).get_json()["destinationId"] == draft["destinationId"]


def test_patch_null_destination_needs_a_single_candidate(api, draft, connect):
    connect("acct_2")
    response = api.patch(draft["id"], destinationId=None)
    assert response.status_code == 422
    assert response.get_json()["code"] == "destination_required"


@pytest.mark.parametrize("status", LOCKED)
def test_patch_of_a_post_past_scheduling_is_a_409(api, draft, set_status, status):
    set_status(draft["id"], status)
    response = api.patch(draft["id"], caption="Too late")
    assert response.status_code == 409
    body = response.get_json()
    assert body["code"] == "post_not_editable"
    assert status in body["detail"]
    assert api.get(draft["id"]).get_json()["caption"] == "First words"


def test_delete_cancels_a_draft(api, draft):
    response = api.delete(draft["id"])
    assert response.status_code == 200
    assert response.get_json()["status"] == "canceled"
    assert api.get(draft["id"]).get_json()["status"] == "canceled"


def test_delete_cancels_a_scheduled_post(api, destination, tenant, future):
    post = api.create_ok(channel="fake", productId=tenant.product_id, scheduledAt=future().isoformat())
    assert api.delete(post["id"]).get_json()["status"] == "canceled"


@pytest.mark.parametrize("status", LOCKED)
def test_delete_of_a_post_past_scheduling_is_a_409(api, draft, set_status, status):
    set_status(draft["id"], status)
    response = api.delete(draft["id"])
    assert response.status_code == 409
    assert response.get_json()["code"] == "post_not_cancelable"
    assert api.get(draft["id"]).get_json()["status"] == status


def test_a_canceled_post_cannot_be_edited(api, draft):
    api.delete(draft["id"])
    response = api.patch(draft["id"], caption="Revived?")
    assert response.status_code == 409
    assert response.get_json()["code"] == "post_not_editable"


def test_missing_post_is_a_404_for_patch_and_delete(api):
    assert api.patch("pst_missing", caption="x").status_code == 404
    assert api.delete("pst_missing").status_code == 404


def test_an_edit_racing_a_publish_does_not_overwrite_it(app, backend, draft, sessions, tenant, monkeypatch):
    """A publish that commits between the edit's read and its write wins; the edit is a 409.

    SQLite serializes writers from the first statement (BEGIN IMMEDIATE), so
    the interleaving can only happen on PostgreSQL.
    """
    if backend == "sqlite":
        pytest.skip("SQLite transactions take the write lock up front; no interleaving is possible")
    real_check = post_service.check_rules

    def publish_meanwhile(*args, **kwargs):
        with session_scope(sessions) as other:
            other.get(Post, draft["id"]).status = "publishing"
        return real_check(*args, **kwargs)

    monkeypatch.setattr(post_service, "check_rules", publish_meanwhile)
    with app.app_context(), session_scope(sessions) as session, pytest.raises(Conflict) as raised:
        post_service.update_post(session, _context(app), tenant.workspace_id, draft["id"], {"caption": "Late"})
    assert raised.value.code == "post_not_editable"
    with session_scope(sessions) as session:
        row = session.get(Post, draft["id"])
        assert (row.status, row.caption) == ("publishing", "First words")


def _context(app):
    return PostContext(current_channels(), app.config["MARKAESTRO_PUBLIC_URL"], storage_from_config(app.config))
