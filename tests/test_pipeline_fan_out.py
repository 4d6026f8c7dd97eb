"""A post to a destination that fans out is published on every target, each through its own channel.

Rounds of :func:`~core.services.publishing_batch.work_runs` (what a poller
or a run's job does) against the fake platform over HTTP, real Redis, both
databases. The targets' calls go side by side; each target gets exactly one
creating call and the post's status sums the targets up.
"""

# ruff: noqa: F811
from __future__ import annotations

from typing import Any

from core.services.publishing_batch import work_runs
from plugins.types import Credentials
from tests.pipeline_kit import (  # noqa: F401  (fixtures)
    app_config,
    connect_fake,
    fake_platform,
    finished,
    make_post,
    pipeline,
    publish,
    run_status,
    targets_of,
    wait_until,
)

API = "/api/public/v1"
PAGE_TARGETS = ["fake:fake:acct_1", "fake:fake:acct_2"]


def _work_in_rounds(pipeline: Any, sessions: Any, run_id: str) -> str:
    """Work the run in rounds, as pollers do, until it finished; its status."""
    wait_until(lambda: work_runs(pipeline, [run_id], "test-round") >= 0 and finished(sessions, run_id),
               timeout=30, what=f"run {run_id} to finish")
    return str(run_status(sessions, run_id))


def _page(sessions: Any, tenant: Any, app_config: dict[str, Any], second: Credentials | None = None) -> Any:
    """A page fanning out to itself (acct_1) and a second account (acct_2, with ``second`` credentials)."""
    connect_fake(sessions, tenant, app_config, account="acct_2", credentials=second)
    return connect_fake(sessions, tenant, app_config, fan_out=PAGE_TARGETS)


def test_a_fan_out_post_is_published_once_on_every_target(client, sessions, tenant, app_config, fake_platform,
                                                           pipeline):
    fake_platform.control(processing_s=0.3)
    post_id = make_post(sessions, tenant, _page(sessions, tenant, app_config))
    run = publish(client, tenant, post_id)

    assert _work_in_rounds(pipeline, sessions, run["id"]) == "succeeded"

    targets = targets_of(sessions, post_id)
    assert [(t.target, t.status) for t in targets] == [(name, "published") for name in PAGE_TARGETS]
    assert len({t.external_id for t in targets}) == 2
    assert sorted(fake_platform.created().values()) == [1, 1]
    post = client.get(f"{API}/posts/{post_id}", headers=tenant.headers).get_json()
    assert (post["status"], post["nextAction"]) == ("published", None)


def test_a_fan_out_post_with_a_target_refused_is_partially_published(client, sessions, tenant, app_config,
                                                                     fake_platform, pipeline):
    page = _page(sessions, tenant, app_config, second=Credentials(access_token="revoked"))
    post_id = make_post(sessions, tenant, page)
    run = publish(client, tenant, post_id)

    assert _work_in_rounds(pipeline, sessions, run["id"]) == "failed"  # a run with a failed target fails (§2.6)

    published, refused = targets_of(sessions, post_id)
    assert (published.status, refused.status) == ("published", "failed")
    assert refused.error["code"] == "reauthorization_required"
    assert list(fake_platform.created().values()) == [1]
    post = client.get(f"{API}/posts/{post_id}", headers=tenant.headers).get_json()
    assert (post["status"], post["nextAction"]) == ("partially_published", "reconnect_destination")
