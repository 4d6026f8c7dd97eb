"""Webhook endpoint routes: create (secret once), list, get, disable, deliveries, retry, isolation, SSRF."""

from __future__ import annotations

import pytest
from rq import Queue
from rq.serializers import JSONSerializer

from core.db import session_scope
from core.ids import new_id
from core.models import Event, WebhookDelivery, WebhookEndpoint
from core.resources.webhooks import RESOLVER_EXTENSION
from core.services.credentials import decrypt_text
from core.services.events import EVENT_TYPES
from tests.conftest import count_rows
from tests.test_ssrf import REFUSED
from tests.webhook_support import FakeResolver

BASE = "/api/public/v1/webhook-endpoints"
PUBLIC_URL = "https://hooks.example.com/markaestro"


@pytest.fixture
def resolver(app):
    fake = FakeResolver({"hooks.example.com": ["93.184.216.34"], "rebind.example.com": ["93.184.216.34"]})
    app.extensions[RESOLVER_EXTENSION] = fake
    return fake


@pytest.fixture
def create(client, tenant, resolver):
    def make(headers=None, **body):
        body.setdefault("url", PUBLIC_URL)
        return client.post(BASE, json=body, headers=headers or tenant.headers)
    return make


def strip(response):
    return {k: v for k, v in response.get_json().items() if k not in ("requestId", "detail")}


def test_create_returns_the_endpoint_and_its_secret_which_is_stored_encrypted(create, sessions, app):
    response = create(events=["post.failed", "post.published"], description="prod")
    assert response.status_code == 201
    body = response.get_json()
    assert body["id"].startswith("whe_") and body["url"] == PUBLIC_URL
    assert body["events"] == ["post.published", "post.failed"]
    assert (body["status"], body["description"], body["disabledReason"]) == ("enabled", "prod", None)
    assert body["createdAt"].endswith("Z") and body["secret"].startswith("whsec_")
    with session_scope(sessions) as session:
        stored = session.get(WebhookEndpoint, body["id"])
        assert body["secret"] not in stored.secret
        assert decrypt_text(app.config["MARKAESTRO_SECRET_KEY"], stored.secret) == body["secret"]


def test_the_secret_is_never_shown_again(client, tenant, create):
    created = create().get_json()
    listed = client.get(BASE, headers=tenant.headers).get_json()
    one = client.get(f"{BASE}/{created['id']}", headers=tenant.headers).get_json()
    assert [e["id"] for e in listed["data"]] == [created["id"]]
    assert "secret" not in listed["data"][0] and "secret" not in one
    assert created["secret"] not in str(listed) + str(one)


def test_omitted_events_mean_all_of_them(create):
    assert create().get_json()["events"] == list(EVENT_TYPES)


@pytest.mark.parametrize("events", [["post.publishd"], [], "post.published", [1]])
def test_unknown_or_malformed_event_types_are_a_422(create, sessions, events):
    response = create(events=events)
    assert response.status_code == 422
    assert response.content_type == "application/problem+json"
    assert "events" in str(response.get_json()["errors"])
    assert count_rows(sessions, WebhookEndpoint) == 0


@pytest.mark.parametrize(("url", "reason"), REFUSED)
def test_internal_urls_are_refused_at_registration_with_the_reason(create, sessions, url, reason):
    response = create(url=url)
    assert response.status_code == 422
    body = response.get_json()
    assert body["code"] == "invalid_webhook_url"
    assert body["type"].endswith("/invalid-webhook-url")
    assert reason in body["detail"] and reason in body["errors"]["url"][0]
    assert count_rows(sessions, WebhookEndpoint) == 0


def test_a_name_resolving_to_a_private_address_is_refused(create, resolver, sessions):
    resolver.table["internal.example.com"] = ["93.184.216.34", "10.0.0.7"]
    body = create(url="https://internal.example.com/").get_json()
    assert body["code"] == "invalid_webhook_url" and "10.0.0.7" in body["detail"]
    assert count_rows(sessions, WebhookEndpoint) == 0


def test_missing_url_is_a_422(client, tenant, resolver):
    response = client.post(BASE, json={"events": ["post.failed"]}, headers=tenant.headers)
    assert response.status_code == 422 and "url" in response.get_json()["errors"]


def test_delete_disables_with_the_reason_and_is_repeatable(client, tenant, create):
    endpoint_id = create().get_json()["id"]
    first = client.delete(f"{BASE}/{endpoint_id}", headers=tenant.headers)
    again = client.delete(f"{BASE}/{endpoint_id}", headers=tenant.headers)
    assert first.status_code == again.status_code == 200
    assert first.get_json()["status"] == "disabled"
    assert first.get_json()["disabledReason"] == again.get_json()["disabledReason"] == "disabled_by_user"
    assert client.get(f"{BASE}/{endpoint_id}", headers=tenant.headers).get_json()["status"] == "disabled"


def test_listing_paginates_newest_first(client, tenant, create):
    ids = [create().get_json()["id"] for _ in range(3)]
    first = client.get(f"{BASE}?limit=2", headers=tenant.headers).get_json()
    second = client.get(f"{BASE}?limit=2&cursor={first['nextCursor']}", headers=tenant.headers).get_json()
    assert [e["id"] for e in first["data"] + second["data"]] == ids[::-1]
    assert second["nextCursor"] is None


def add_delivery(sessions, tenant, endpoint_id, status="failed"):
    with session_scope(sessions) as session:
        event = Event(id=new_id("evt"), workspace_id=tenant.workspace_id, type="post.failed", payload="{}")
        session.add(event)
        session.flush()
        delivery = WebhookDelivery(id=new_id("dlv"), endpoint_id=endpoint_id, event_id=event.id, status=status,
                                   attempts=[{"number": 1, "trigger": "automatic", "attemptedAt": "x",
                                              "statusCode": 500, "durationMs": 12, "error": "HTTP 500"}],
                                   series_attempts=8)
        session.add(delivery)
        return delivery.id, event.id


def test_deliveries_show_attempts_and_retry_enqueues_a_fresh_series(client, tenant, create, sessions, redis_client):
    endpoint_id = create().get_json()["id"]
    delivery_id, event_id = add_delivery(sessions, tenant, endpoint_id)
    [listed] = client.get(f"{BASE}/{endpoint_id}/deliveries", headers=tenant.headers).get_json()["data"]
    assert (listed["id"], listed["eventId"], listed["eventType"]) == (delivery_id, event_id, "post.failed")
    assert listed["attempts"][0]["statusCode"] == 500 and listed["attempts"][0]["durationMs"] == 12
    retried = client.post(f"{BASE}/{endpoint_id}/deliveries/{delivery_id}/retry", headers=tenant.headers)
    assert retried.status_code == 202
    assert retried.get_json()["status"] == "pending" and retried.get_json()["nextAttemptAt"]
    queue = Queue("markaestro-webhooks", connection=redis_client, serializer=JSONSerializer)
    [job] = queue.get_jobs()
    assert job.func_name == "core.webhooks.jobs.deliver" and job.args == [delivery_id]
    with session_scope(sessions) as session:
        assert session.get(WebhookDelivery, delivery_id).series_attempts == 0


def test_retry_on_a_disabled_endpoint_is_a_409(client, tenant, create, sessions):
    endpoint_id = create().get_json()["id"]
    delivery_id, _ = add_delivery(sessions, tenant, endpoint_id)
    client.delete(f"{BASE}/{endpoint_id}", headers=tenant.headers)
    response = client.post(f"{BASE}/{endpoint_id}/deliveries/{delivery_id}/retry", headers=tenant.headers)
    assert response.status_code == 409 and response.get_json()["code"] == "webhook_endpoint_disabled"


def test_disabling_cancels_pending_deliveries_without_deleting_them(client, tenant, create, sessions):
    endpoint_id = create().get_json()["id"]
    delivery_id, _ = add_delivery(sessions, tenant, endpoint_id, status="pending")
    client.delete(f"{BASE}/{endpoint_id}", headers=tenant.headers)
    with session_scope(sessions) as session:
        assert session.get(WebhookDelivery, delivery_id).status == "cancelled"


def test_another_workspaces_endpoint_and_deliveries_are_a_404_like_missing_ones(
    client, tenant, other_tenant, create, sessions
):
    foreign_id = create(headers=other_tenant.headers).get_json()["id"]
    delivery_id, _ = add_delivery(sessions, other_tenant, foreign_id)
    h = tenant.headers
    pairs = [
        (client.get(f"{BASE}/{foreign_id}", headers=h), client.get(f"{BASE}/whe_missing", headers=h)),
        (client.delete(f"{BASE}/{foreign_id}", headers=h), client.delete(f"{BASE}/whe_missing", headers=h)),
        (client.get(f"{BASE}/{foreign_id}/deliveries", headers=h),
         client.get(f"{BASE}/whe_missing/deliveries", headers=h)),
        (client.post(f"{BASE}/{foreign_id}/deliveries/{delivery_id}/retry", headers=h),
         client.post(f"{BASE}/whe_missing/deliveries/{delivery_id}/retry", headers=h)),
    ]
    for foreign, missing in pairs:
        assert foreign.status_code == missing.status_code == 404
        assert strip(foreign) == strip(missing)
    assert client.get(BASE, headers=h).get_json()["data"] == []
    other = client.get(f"{BASE}/{foreign_id}", headers=other_tenant.headers).get_json()
    assert other["status"] == "enabled"


def test_routes_are_in_the_openapi_document(client):
    paths = client.get("/api/public/v1/openapi.json").get_json()["paths"]
    assert {"/api/public/v1/webhook-endpoints", "/api/public/v1/webhook-endpoints/{endpoint_id}",
            "/api/public/v1/webhook-endpoints/{endpoint_id}/deliveries",
            "/api/public/v1/webhook-endpoints/{endpoint_id}/deliveries/{delivery_id}/retry"} <= set(paths)
