"""Failure paths of the pipeline: credentials, reauthorization, unknown outcomes, rate limits, run-time validation.

Most tests call the job function in this process (``drive``) against the
fake platform over HTTP with real Redis; the rate-limit test is about
scheduling, so a real worker process runs it.
"""

# ruff: noqa: F811
from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from core.db import session_scope
from core.models import Destination, Post
from core.services.publishing_batch import work_runs
from plugins.types import Credentials
from tests.pipeline_kit import (  # noqa: F401  (fixtures)
    app_config,
    connect_fake,
    count_events,
    drive,
    event_types,
    fake_platform,
    finished,
    make_post,
    pipeline,
    post_status,
    publish,
    stored_credentials,
    targets_of,
    wait_until,
    workers,
)

API = "/api/public/v1"


def _token(post_id: str) -> str:
    return f"{post_id}:fake:fake:acct_1"


def _steps(client, tenant, run_id):
    body = client.get(f"{API}/job-runs/{run_id}", headers=tenant.headers).get_json()
    return [(s["name"], s["status"]) for s in body["steps"]]


def _published_with(fake_platform, post_id: str) -> str:
    [post] = [p for p in fake_platform.app.state.posts.values() if p["token"] == _token(post_id)]
    return str(post["access_token"])


def test_an_expired_token_is_refreshed_and_the_step_retried_once(client, sessions, tenant, app_config,
                                                                  fake_platform, pipeline):
    fake_platform.control(expired_tokens=["good-token"])
    destination = connect_fake(sessions, tenant, app_config)
    post_id = make_post(sessions, tenant, destination)
    run = publish(client, tenant, post_id)

    assert drive(pipeline, sessions, run["id"]) == "succeeded"

    assert fake_platform.app.state.rejected_tokens == ["good-token"]
    assert fake_platform.app.state.refreshes == ["r1"]
    assert fake_platform.created() == {_token(post_id): 1}
    assert _published_with(fake_platform, post_id) == "fresh-r1"
    stored, sealed = stored_credentials(sessions, app_config, destination.id)
    assert (stored.access_token, stored.refresh_token) == ("fresh-r1", "r1+")
    assert b"fresh-r1" not in sealed and b"r1+" not in sealed  # stored encrypted


def test_credentials_expiring_soon_are_refreshed_before_use(client, sessions, tenant, app_config, fake_platform,
                                                            pipeline):
    soon = datetime.now(UTC) + timedelta(seconds=60)
    destination = connect_fake(sessions, tenant, app_config,
                               credentials=Credentials(access_token="good-token", refresh_token="r1", expires_at=soon))
    post_id = make_post(sessions, tenant, destination)
    run = publish(client, tenant, post_id)

    assert drive(pipeline, sessions, run["id"]) == "succeeded"

    assert fake_platform.app.state.refreshes == ["r1"] and fake_platform.app.state.rejected_tokens == []
    assert _published_with(fake_platform, post_id) == "fresh-r1"
    stored, _sealed = stored_credentials(sessions, app_config, destination.id)
    assert stored.access_token == "fresh-r1" and stored.expires_at is not None and stored.expires_at > soon


def test_a_refresh_refused_before_use_needs_reauth_and_calls_nothing(client, sessions, tenant, app_config,
                                                                     fake_platform, pipeline):
    soon = datetime.now(UTC) + timedelta(seconds=60)
    destination = connect_fake(sessions, tenant, app_config,  # no refresh token: the fake refuses to refresh
                               credentials=Credentials(access_token="good-token", expires_at=soon))
    post_id = make_post(sessions, tenant, destination)
    run = publish(client, tenant, post_id)

    assert drive(pipeline, sessions, run["id"]) == "failed"

    [target] = targets_of(sessions, post_id)
    assert (target.status, target.error["code"]) == ("failed", "reauthorization_required")
    with session_scope(sessions) as session:
        assert session.get(Destination, destination.id).status == "needs_reauth"
    assert fake_platform.created() == {}


def _round_of_three(client, sessions, tenant, app_config, pipeline, credentials: Credentials) -> list[str]:
    """Three posts to one destination with ``credentials``, worked in one round, calls side by side."""
    destination = connect_fake(sessions, tenant, app_config, credentials=credentials)
    post_ids = [make_post(sessions, tenant, destination, caption=f"post {i}") for i in range(3)]
    runs = [publish(client, tenant, post_id)["id"] for post_id in post_ids]
    assert work_runs(replace(pipeline, settings=replace(pipeline.settings, concurrency=3)), runs, "test-round") == 3
    return post_ids


def test_a_round_of_posts_to_one_destination_refreshes_its_expiring_token_once(client, sessions, tenant,
                                                                                app_config, fake_platform, pipeline):
    soon = datetime.now(UTC) + timedelta(seconds=60)
    post_ids = _round_of_three(client, sessions, tenant, app_config, pipeline,
                               Credentials(access_token="good-token", refresh_token="r1", expires_at=soon))

    assert fake_platform.app.state.refreshes == ["r1"]  # the rotated refresh token is never spent twice
    assert [_published_with(fake_platform, post_id) for post_id in post_ids] == ["fresh-r1"] * 3


def test_calls_rejected_side_by_side_refresh_the_token_once(client, sessions, tenant, app_config, fake_platform,
                                                            pipeline):
    fake_platform.control(expired_tokens=["good-token"])
    post_ids = _round_of_three(client, sessions, tenant, app_config, pipeline,
                               Credentials(access_token="good-token", refresh_token="r1"))

    assert fake_platform.app.state.refreshes == ["r1"]
    assert [_published_with(fake_platform, post_id) for post_id in post_ids] == ["fresh-r1"] * 3
    assert sorted(fake_platform.created().values()) == [1, 1, 1]


def test_revoked_access_needs_reauth_and_asks_to_reconnect(client, sessions, tenant, app_config, fake_platform,
                                                           pipeline, count_events):
    destination = connect_fake(sessions, tenant, app_config, credentials=Credentials(access_token="revoked"))
    post_id = make_post(sessions, tenant, destination)
    run = publish(client, tenant, post_id)

    assert drive(pipeline, sessions, run["id"]) == "failed"

    [target] = targets_of(sessions, post_id)
    assert (target.status, target.error["code"]) == ("failed", "reauthorization_required")
    post = client.get(f"{API}/posts/{post_id}", headers=tenant.headers).get_json()
    assert (post["status"], post["nextAction"]) == ("failed", "reconnect_destination")
    with session_scope(sessions) as session:
        assert session.get(Destination, destination.id).status == "needs_reauth"
    assert sorted(event_types(sessions)) == ["destination.needs_reauth", "job_run.failed", "post.failed"]
    event = count_events()["destination.needs_reauth"]["data"]
    assert (event["destinationId"], event["nextAction"]) == ("fake:fake:acct_1", "reconnect_destination")
    assert fake_platform.created() == {} and fake_platform.app.state.refreshes == []


def test_an_unknown_outcome_the_platform_cannot_tell_is_left_needs_reconcile(client, sessions, tenant, app_config,
                                                                               fake_platform, pipeline):
    fake_platform.control(ambiguous=True, lookup_blind=True)
    post_id = make_post(sessions, tenant, connect_fake(sessions, tenant, app_config))
    run = publish(client, tenant, post_id)

    assert drive(pipeline, sessions, run["id"]) == "failed"

    [target] = targets_of(sessions, post_id)
    assert (target.status, target.error["code"]) == ("needs_reconcile", "needs_reconcile")
    assert fake_platform.app.state.calls == 1 and fake_platform.created() == {_token(post_id): 1}
    assert _steps(client, tenant, run["id"]) == [("publish_step", "unknown"), ("reconcile", "failed")]
    assert post_status(sessions, post_id) == "failed"


def test_an_unknown_outcome_the_platform_shows_is_published_without_a_second_call(
        client, sessions, tenant, app_config, fake_platform, pipeline):
    fake_platform.control(ambiguous=True)
    post_id = make_post(sessions, tenant, connect_fake(sessions, tenant, app_config))
    run = publish(client, tenant, post_id)

    assert drive(pipeline, sessions, run["id"]) == "succeeded"

    [target] = targets_of(sessions, post_id)
    assert target.status == "published" and target.external_id.startswith("fp_")
    assert fake_platform.app.state.calls == 1 and fake_platform.created() == {_token(post_id): 1}
    assert _steps(client, tenant, run["id"]) == [("publish_step", "unknown"), ("reconcile", "succeeded")]


def _forbid_caption(session, post):
    post.caption = "now with a forbidden word"


def _delete_media(session, post):
    post.media_asset_ids = ["ast_deleted"]


@pytest.mark.parametrize(("change", "says"), [(_forbid_caption, 'containing "forbidden"'),
                                              (_delete_media, "media asset ast_deleted no longer exists")])
def test_a_post_that_no_longer_validates_fails_at_run_time_without_calling_the_platform(
        client, sessions, tenant, app_config, fake_platform, pipeline, change, says):
    post_id = make_post(sessions, tenant, connect_fake(sessions, tenant, app_config))
    run = publish(client, tenant, post_id)
    with session_scope(sessions) as session:
        change(session, session.get(Post, post_id))

    assert drive(pipeline, sessions, run["id"]) == "failed"

    [target] = targets_of(sessions, post_id)
    assert (target.status, target.error["code"], target.error["retryable"]) == ("failed", "validation_failed", False)
    assert says in target.error["message"]
    assert fake_platform.app.state.calls == 0
    assert _steps(client, tenant, run["id"]) == [("validate", "failed")]
    assert post_status(sessions, post_id) == "failed"


def test_a_failed_target_is_told_to_publish_finished_and_its_error_ignored(
        client, sessions, tenant, app_config, fake_platform, pipeline, tmp_path, monkeypatch):
    from dataclasses import replace

    from core.channels import build_channels
    from tests.finish_recorder import recorded

    sink = str(tmp_path / "finished.jsonl")
    monkeypatch.setenv("FINISH_RECORDER_FILE", sink)
    extra = f"{app_config['MARKAESTRO_EXTRA_PLUGINS']},tests.finish_recorder"
    recording = replace(pipeline, channels=build_channels({**app_config, "MARKAESTRO_EXTRA_PLUGINS": extra,
                                                           "MARKAESTRO_LOAD_PLUGINS": "false"}))
    fake_platform.control(permanent=True)
    post_id = make_post(sessions, tenant, connect_fake(sessions, tenant, app_config))
    run = publish(client, tenant, post_id)

    assert drive(recording, sessions, run["id"]) == "failed"

    [notice] = recorded(sink)
    assert (notice["state"], notice["errorCode"], notice["post"]) == ("failed", "platform_rejected", _token(post_id))
    assert targets_of(sessions, post_id)[0].status == "failed"


def test_a_rate_limit_delays_the_next_attempt_by_retry_after(client, sessions, tenant, app_config, fake_platform,
                                                             workers):
    fake_platform.control(rate_limited=1, retry_after_s=2.0)
    post_id = make_post(sessions, tenant, connect_fake(sessions, tenant, app_config))
    run = publish(client, tenant, post_id)
    workers.start()
    wait_until(lambda: finished(sessions, run["id"]), timeout=40, what="the run")

    [(refused_at, refused), (created_at, created)] = fake_platform.app.state.attempts
    assert (refused, created) == (429, 201)
    assert created_at - refused_at >= 2.0  # never earlier than Retry-After (any later is the scheduler's tick)
    assert _steps(client, tenant, run["id"]) == [("publish_step", "retrying"), ("create_post", "succeeded")]
    body = client.get(f"{API}/job-runs/{run['id']}", headers=tenant.headers).get_json()
    assert "retrying in 2.0 s" in body["steps"][0]["detail"]
    assert fake_platform.created() == {_token(post_id): 1}
