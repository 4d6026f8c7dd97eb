"""Per-API-key rate limits in Redis (spec §1.1 429, §6; reliability §5 K7, §8 row 11)."""

from __future__ import annotations

from typing import Any

import http_sfv
import pytest
import sqlalchemy as sa
from flask import Flask, jsonify

from core import create_app
from core.db import session_scope
from core.models import IdempotencyRecord
from plugins.testing import fake_channel

PRODUCTS = "/api/public/v1/products"
QUOTA = 3


@pytest.fixture
def app(app_config: dict[str, Any]) -> Any:
    application = create_app({**app_config, "MARKAESTRO_RATE_LIMIT": f"{QUOTA}/hour"}, plugins=(fake_channel,))
    application.add_url_rule("/api/public/v1/_test/create", "test_create",
                             lambda: (jsonify({"created": True}), 201), methods=["POST"])
    yield application
    application.extensions["markaestro.engine"].dispose()


def fields(response: Any, name: str) -> dict[str, Any]:
    """The parameters of the ``"default"`` member of a structured-field list header."""
    parsed = http_sfv.List()
    parsed.parse(response.headers[name].encode())
    [item] = list(parsed)
    assert item.value == "default"
    return dict(item.params)


def exhaust(client: Any, headers: dict[str, str]) -> list[Any]:
    return [client.get(PRODUCTS, headers=headers) for _ in range(QUOTA)]


def test_responses_carry_ratelimit_structured_fields(client, tenant):
    responses = exhaust(client, tenant.headers)
    assert [r.status_code for r in responses] == [200] * QUOTA
    policy = fields(responses[0], "RateLimit-Policy")
    assert policy == {"q": QUOTA, "w": 3600}
    remaining = [fields(r, "RateLimit")["r"] for r in responses]
    assert remaining == [QUOTA - 1, QUOTA - 2, 0]
    assert 0 < fields(responses[-1], "RateLimit")["t"] <= 3600


def test_burst_over_the_quota_is_429_problem_with_retry_after(client, tenant):
    exhaust(client, tenant.headers)
    response = client.get(PRODUCTS, headers=tenant.headers)
    assert response.status_code == 429
    assert response.content_type == "application/problem+json"
    body = response.get_json()
    assert body["code"] == "rate_limited" and body["status"] == 429 and body["requestId"]
    retry_after = int(response.headers["Retry-After"])
    assert retry_after >= fields(response, "RateLimit")["t"] > 0
    assert fields(response, "RateLimit")["r"] == 0


def test_another_workspace_is_unaffected_by_a_burst(client, tenant, other_tenant):
    exhaust(client, tenant.headers)
    assert client.get(PRODUCTS, headers=tenant.headers).status_code == 429
    response = client.get(PRODUCTS, headers=other_tenant.headers)
    assert response.status_code == 200
    assert fields(response, "RateLimit")["r"] == QUOTA - 1


def test_budgets_are_kept_in_redis_per_api_key(client, tenant, redis_client):
    client.get(PRODUCTS, headers=tenant.headers)
    keys = [k.decode() for k in redis_client.keys("*")]
    assert any(tenant.key_id in key for key in keys), keys


def test_a_throttled_post_does_not_consume_its_idempotency_key(client, tenant, sessions, redis_client):
    exhaust(client, tenant.headers)
    headers = {**tenant.headers, "Idempotency-Key": "k-throttled"}
    throttled = client.post("/api/public/v1/_test/create", json={}, headers=headers)
    assert throttled.status_code == 429
    with session_scope(sessions) as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(IdempotencyRecord)) == 0
    redis_client.flushdb()  # the window is over
    accepted = client.post("/api/public/v1/_test/create", json={}, headers=headers)
    assert accepted.status_code == 201 and "Idempotent-Replayed" not in accepted.headers


def test_unauthenticated_requests_are_limited_by_address(client, tenant):
    bad = {"Authorization": "Bearer mk_not_a_real_key"}
    assert [client.get(PRODUCTS, headers=bad).status_code for _ in range(QUOTA)] == [401] * QUOTA
    throttled = client.get(PRODUCTS, headers=bad)
    assert throttled.status_code == 429 and throttled.get_json()["code"] == "rate_limited"
    assert client.get(PRODUCTS, headers=tenant.headers).status_code == 200


def test_openapi_document_and_docs_are_exempt(client):
    for _ in range(QUOTA + 2):
        response = client.get("/api/public/v1/openapi.json")
        assert response.status_code == 200
        assert "RateLimit" not in response.headers
    assert client.get("/api/public/v1/docs").status_code == 200


def test_off_disables_the_limiter(app_config, tenant):
    application: Flask = create_app({**app_config, "MARKAESTRO_RATE_LIMIT": "off"}, plugins=(fake_channel,))
    client = application.test_client()
    responses = [client.get(PRODUCTS, headers=tenant.headers) for _ in range(QUOTA + 2)]
    assert {r.status_code for r in responses} == {200}
    assert "RateLimit" not in responses[-1].headers
    application.extensions["markaestro.engine"].dispose()
