"""Webhook delivery through real RQ (SimpleWorker, burst) and Redis to a loopback receiver.

The endpoints are registered through the API with ``MARKAESTRO_WEBHOOK_ALLOW_PRIVATE``
(the receiver is http on 127.0.0.1); every test runs under the loopback-only guard.
"""

# ruff: noqa: F811  (fixtures imported from tests.webhook_support)
from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks import Webhook

from core.db import session_scope
from core.models import Event, WebhookDelivery, WebhookEndpoint
from core.resources.webhooks import RESOLVER_EXTENSION
from core.services.events import record_event
from core.timeutil import utcnow
from core.webhooks import jobs
from core.webhooks.delivery import retry_after_seconds
from tests.conftest import count_rows
from tests.webhook_support import HANG, FakeResolver, loopback_only, receiver, work_burst  # noqa: F401

BASE = "/api/public/v1/webhook-endpoints"
pytestmark = pytest.mark.usefixtures("loopback_only")


@pytest.fixture
def app_config(app_config):
    return {**app_config, "MARKAESTRO_WEBHOOK_ALLOW_PRIVATE": True, "MARKAESTRO_WEBHOOK_RETRY_SCHEDULE": "0,0",
            "MARKAESTRO_WEBHOOK_RETRY_JITTER": 0, "MARKAESTRO_WEBHOOK_TIMEOUT_SECONDS": 1}


@pytest.fixture
def resolver(app):
    fake = FakeResolver()
    app.extensions[RESOLVER_EXTENSION] = fake
    jobs.configure(app.config, resolver=fake)
    yield fake
    jobs.configure(None)


@pytest.fixture
def register(client, tenant, resolver):
    def make(url, **body):
        response = client.post(BASE, json={"url": url, **body}, headers=tenant.headers)
        assert response.status_code == 201, response.get_json()
        return response.get_json()
    return make


@pytest.fixture
def emit(sessions, tenant):
    def make(event_type="post.published", **data):
        with session_scope(sessions) as session:
            return record_event(session, tenant.workspace_id, event_type, {"postId": "pst_1", **data}).id
    return make


@pytest.fixture
def run_worker(redis_client):
    def work():
        jobs.dispatch_pending()
        work_burst(jobs.runtime().queue())
    return work


def deliveries(sessions, endpoint_id):
    """(status, attempts, next attempt) of the endpoint's deliveries (``None``: every endpoint's)."""
    with session_scope(sessions) as session:
        query = session.query(WebhookDelivery)
        rows = (query if endpoint_id is None else query.filter_by(endpoint_id=endpoint_id)).all()
        return [(d.status, d.attempts, d.next_attempt_at) for d in rows]


def endpoint_row(sessions, endpoint_id):
    with session_scope(sessions) as session:
        return session.get(WebhookEndpoint, endpoint_id)


def test_delivery_is_signed_and_verifies_with_the_reference_library(register, emit, run_worker, receiver, sessions):
    endpoint = register(receiver.url("/a"))
    event_id = emit(channel="fake")
    run_worker()
    [request] = receiver.to("/a")
    payload = Webhook(endpoint["secret"]).verify(request.body, request.headers)
    assert payload["id"] == event_id == request.headers["Webhook-Id"]
    assert payload["type"] == "post.published" and payload["data"]["channel"] == "fake"
    assert request.headers["Content-Type"] == "application/json"
    with session_scope(sessions) as session:
        assert request.body == session.get(Event, event_id).payload.encode()
        assert session.get(Event, event_id).dispatched_at is not None
    [(status, attempts, next_at)] = deliveries(sessions, endpoint["id"])
    assert (status, next_at, attempts[0]["statusCode"], attempts[0]["error"]) == ("delivered", None, 200, None)


def test_a_500_is_retried_with_the_same_id_and_bytes_and_then_recorded_delivered(
    register, emit, run_worker, receiver, sessions, client, tenant
):
    receiver.script["/a"] = [500, 200]
    endpoint = register(receiver.url("/a"))
    emit()
    run_worker()
    first, second = receiver.to("/a")
    assert first.headers["Webhook-Id"] == second.headers["Webhook-Id"]
    assert first.body == second.body
    for request in (first, second):
        Webhook(endpoint["secret"]).verify(request.body, request.headers)
    [delivery] = client.get(f"{BASE}/{endpoint['id']}/deliveries", headers=tenant.headers).get_json()["data"]
    assert delivery["status"] == "delivered" and delivery["deliveredAt"]
    assert [a["statusCode"] for a in delivery["attempts"]] == [500, 200]
    assert delivery["attempts"][0]["error"] == "HTTP 500"
    assert endpoint_row(sessions, endpoint["id"]).failing_since is None


def test_retries_stop_after_the_schedule_and_the_delivery_is_failed(register, emit, run_worker, receiver, sessions):
    receiver.script["/a"] = [503]
    endpoint = register(receiver.url("/a"))
    emit()
    run_worker()
    assert len(receiver.to("/a")) == 3  # first attempt + a schedule of two retries
    [(status, attempts, next_at)] = deliveries(sessions, endpoint["id"])
    assert (status, len(attempts), next_at) == ("failed", 3, None)
    assert endpoint_row(sessions, endpoint["id"]).failing_since is not None


def test_a_receivers_retry_after_pushes_the_next_attempt_back(register, emit, run_worker, receiver, sessions):
    receiver.script["/a"] = [(503, {"Retry-After": "120"}), 200]
    endpoint = register(receiver.url("/a"))
    emit()
    before = utcnow()
    run_worker()
    assert len(receiver.to("/a")) == 1  # the schedule's immediate retry waits for the receiver's 120 s
    [(status, attempts, next_at)] = deliveries(sessions, endpoint["id"])
    assert (status, len(attempts)) == ("pending", 1)
    assert next_at >= before + timedelta(seconds=120)


@pytest.mark.parametrize(("value", "seconds"), [
    ("120", 120.0), (" 7 ", 7.0), ("Fri, 04 Dec 2026 10:02:00 GMT", 120.0), ("Fri, 04 Dec 2026 09:00:00 GMT", 0.0),
    ("soon", None), ("-5", None), (None, None),
])
def test_retry_after_is_read_as_seconds_or_an_http_date(value, seconds):
    now = datetime(2026, 12, 4, 10, 0, tzinfo=UTC)
    assert retry_after_seconds(value, now) == seconds


def _first_delivery(sessions, endpoint_id=None):
    """A delivery to start the job with (one of ``endpoint_id``'s when given)."""
    with session_scope(sessions) as session:
        query = session.query(WebhookDelivery.id)
        if endpoint_id is not None:
            query = query.filter_by(endpoint_id=endpoint_id)
        return query.order_by(WebhookDelivery.created_at).first()[0]


def test_one_delivery_job_sends_the_burst_each_endpoint_in_event_order(register, emit, receiver, sessions,
                                                                        redis_client):
    register(receiver.url("/a"))
    register(receiver.url("/b"))
    events = []
    for _ in range(5):
        events.append(emit())
        time.sleep(0.002)  # a millisecond apart: createdAt orders them
    jobs.dispatch_pending()  # ten deliveries, ten jobs queued

    summary = jobs.deliver(_first_delivery(sessions))
    work_burst(jobs.runtime().queue())  # the other nine jobs find their deliveries done

    assert summary == "delivered; then 9 due deliveries"
    for path in ("/a", "/b"):
        received = [json.loads(r.body) for r in receiver.to(path)]
        assert sorted(e["id"] for e in received) == sorted(events)
        stamps = [e["createdAt"] for e in received]
        assert stamps == sorted(stamps) and len(set(stamps)) == 5  # in event order
    assert {status for status, _, _ in deliveries(sessions, None)} == {"delivered"}


def test_the_backlog_leaves_a_failing_endpoint_to_its_retries(register, emit, receiver, sessions, redis_client):
    receiver.script["/a"] = [500]
    failing = register(receiver.url("/a"))
    register(receiver.url("/b"))
    for _ in range(3):
        emit()
    jobs.dispatch_pending()

    jobs.deliver(_first_delivery(sessions, failing["id"]))

    assert len(receiver.to("/a")) == 1  # the first failure: /a's other deliveries wait for their own jobs
    assert len(receiver.to("/b")) == 3


def test_a_failing_endpoints_long_backlog_does_not_hide_the_others(register, emit, receiver, sessions,
                                                                     redis_client):
    receiver.script["/a"] = [500]
    failing = register(receiver.url("/a"))
    for _ in range(4 * jobs.BACKLOG_ROUND + 5):  # more of /a's deliveries than a round reads
        emit()
    register(receiver.url("/b"))
    emit()  # /b's only delivery comes after all of /a's
    jobs.dispatch_pending(limit=1000)

    jobs.deliver(_first_delivery(sessions, failing["id"]))

    assert len(receiver.to("/a")) == 1 and len(receiver.to("/b")) == 1


def test_410_disables_the_endpoint_and_nothing_more_is_sent(register, emit, run_worker, receiver, client, tenant):
    receiver.script["/gone"] = [410]
    endpoint = register(receiver.url("/gone"))
    emit()
    run_worker()
    emit()
    run_worker()
    assert len(receiver.to("/gone")) == 1
    shown = client.get(f"{BASE}/{endpoint['id']}", headers=tenant.headers).get_json()
    assert (shown["status"], shown["disabledReason"]) == ("disabled", "gone")


def test_a_disabled_endpoint_gets_nothing_while_others_do(register, emit, run_worker, receiver, client, tenant):
    off = register(receiver.url("/off"))
    register(receiver.url("/on"))
    client.delete(f"{BASE}/{off['id']}", headers=tenant.headers)
    emit()
    run_worker()
    assert receiver.to("/off") == [] and len(receiver.to("/on")) == 1


def test_only_subscribed_event_types_are_delivered(register, emit, run_worker, receiver):
    register(receiver.url("/failures"), events=["post.failed"])
    emit("post.published")
    failed = emit("post.failed")
    run_worker()
    assert [json.loads(r.body)["id"] for r in receiver.to("/failures")] == [failed]


def test_endpoint_failing_longer_than_the_limit_is_disabled(app, register, emit, run_worker, receiver, sessions,
                                                            client, tenant):
    receiver.script["/down"] = [500]
    endpoint = register(receiver.url("/down"))
    emit()
    jobs.configure({**app.config, "MARKAESTRO_WEBHOOK_DISABLE_AFTER_SECONDS": 0}, resolver=jobs.runtime().resolver)
    run_worker()
    assert len(receiver.to("/down")) == 2  # the first failure starts the clock, the second exceeds it
    shown = client.get(f"{BASE}/{endpoint['id']}", headers=tenant.headers).get_json()
    assert (shown["status"], shown["disabledReason"]) == ("disabled", "failing")


def test_rebinding_to_loopback_at_delivery_is_blocked_without_connecting(
    app, client, tenant, resolver, emit, run_worker, receiver, sessions, loopback_only
):
    jobs.configure({**app.config, "MARKAESTRO_WEBHOOK_ALLOW_PRIVATE": False}, resolver=resolver)
    app.config["MARKAESTRO_WEBHOOK_ALLOW_PRIVATE"] = False
    resolver.table["rebind.example.com"] = [["93.184.216.34"], ["127.0.0.1"]]
    url = f"https://rebind.example.com:{receiver.port}/a"
    created = client.post(BASE, json={"url": url}, headers=tenant.headers)
    assert created.status_code == 201
    emit()
    run_worker()
    assert receiver.requests == []
    assert not [a for a in loopback_only if a[1] == receiver.port]
    [(status, attempts, _)] = deliveries(sessions, created.get_json()["id"])
    assert all(a["error"].startswith("blocked_destination") and "loopback" in a["error"] for a in attempts)
    assert len(attempts) == 3 and status == "failed"
    assert endpoint_row(sessions, created.get_json()["id"]).status == "enabled"


def test_a_redirect_is_not_followed_and_counts_as_a_failure(register, emit, run_worker, receiver, sessions):
    receiver.script["/moved"] = [(302, {"Location": receiver.url("/internal")})]
    endpoint = register(receiver.url("/moved"))
    emit()
    run_worker()
    assert receiver.to("/internal") == []
    [(status, attempts, _)] = deliveries(sessions, endpoint["id"])
    assert status == "failed" and {a["statusCode"] for a in attempts} == {302}
    assert "redirects are not followed" in attempts[0]["error"]


def test_a_hanging_receiver_is_cut_at_the_timeout_and_others_still_get_theirs(
    register, emit, run_worker, receiver, sessions
):
    receiver.script["/hang"] = [HANG]
    hanging = register(receiver.url("/hang"))
    fine = register(receiver.url("/fine"))
    emit()
    run_worker()
    assert not receiver.released.is_set()  # the receiver never answered: the attempts were cut
    [(status, attempts, _)] = deliveries(sessions, hanging["id"])
    assert status == "failed" and all(a["error"] == "timed out after 1 s" for a in attempts)
    assert all(a["statusCode"] is None for a in attempts)
    assert deliveries(sessions, fine["id"])[0][0] == "delivered"


def test_manual_retry_redelivers_the_same_event_newly_signed(register, emit, run_worker, receiver, client, tenant):
    endpoint = register(receiver.url("/a"))
    emit()
    run_worker()
    [delivery] = client.get(f"{BASE}/{endpoint['id']}/deliveries", headers=tenant.headers).get_json()["data"]
    response = client.post(f"{BASE}/{endpoint['id']}/deliveries/{delivery['id']}/retry", headers=tenant.headers)
    assert response.status_code == 202
    run_worker()
    first, second = receiver.to("/a")
    assert first.headers["Webhook-Id"] == second.headers["Webhook-Id"] and first.body == second.body
    Webhook(endpoint["secret"]).verify(second.body, second.headers)
    [after] = client.get(f"{BASE}/{endpoint['id']}/deliveries", headers=tenant.headers).get_json()["data"]
    assert [a["trigger"] for a in after["attempts"]] == ["automatic", "manual"]


def test_events_are_dispatched_once_and_before_the_endpoint_existed_are_not_sent(
    register, emit, run_worker, receiver, sessions
):
    emit()
    run_worker()
    register(receiver.url("/late"))
    run_worker()
    assert receiver.to("/late") == []
    assert count_rows(sessions, WebhookDelivery) == 0


def test_a_lost_wake_up_is_re_enqueued_by_the_sweep(app, register, emit, receiver, sessions, redis_client):
    register(receiver.url("/a"))
    emit()
    jobs.dispatch_pending()
    redis_client.flushdb()  # Redis lost every queued job
    with session_scope(sessions) as session:
        for delivery in session.query(WebhookDelivery):
            delivery.next_attempt_at = delivery.next_attempt_at.replace(year=2000)
    assert jobs.dispatch_pending() == 1
    assert jobs.dispatch_pending() == 0  # at most once per lease
    work_burst(jobs.runtime().queue())
    assert len(receiver.to("/a")) == 1
