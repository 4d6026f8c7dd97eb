"""A publish runs end to end: API → queue → real RQ worker → fake channel → fake platform over HTTP."""

# ruff: noqa: F811

from __future__ import annotations

from tests.pipeline_kit import (  # noqa: F401  (fixtures)
    app_config,
    connect_fake,
    count_events,
    fake_platform,
    finished,
    make_post,
    post_status,
    publish,
    targets_of,
    wait_until,
    workers,
)


def test_publish_runs_end_to_end_against_the_fake_platform(client, sessions, tenant, app_config, fake_platform,
                                                           workers):
    destination = connect_fake(sessions, tenant, app_config)
    post_id = make_post(sessions, tenant, destination)
    run = publish(client, tenant, post_id)
    assert run["status"] == "queued" and run["postId"] == post_id
    assert post_status(sessions, post_id) == "publishing"
    workers.start()
    wait_until(lambda: finished(sessions, run["id"]), what="the run to finish")

    body = client.get(f"/api/public/v1/job-runs/{run['id']}", headers=tenant.headers).get_json()
    assert body["status"] == "succeeded" and body["finishedAt"].endswith("Z")
    assert [(s["name"], s["status"]) for s in body["steps"]] == [("create_post", "succeeded")]
    [target] = targets_of(sessions, post_id)
    assert target.status == "published" and target.external_id.startswith("fp_")
    assert fake_platform.created() == {f"{post_id}:fake:fake:acct_1": 1}
    assert post_status(sessions, post_id) == "published"


def test_terminal_transition_records_post_and_run_events(client, sessions, tenant, app_config, fake_platform,
                                                         workers, count_events):
    destination = connect_fake(sessions, tenant, app_config)
    post_id = make_post(sessions, tenant, destination)
    run = publish(client, tenant, post_id)
    workers.start()
    wait_until(lambda: finished(sessions, run["id"]), what="the run to finish")
    events = count_events()
    assert sorted(events) == ["job_run.succeeded", "post.published"]
    data = events["post.published"]["data"]
    assert data["postId"] == post_id and data["status"] == "published" and data["nextAction"] is None
    assert data["externalId"] == data["publishResults"][0]["externalId"]
