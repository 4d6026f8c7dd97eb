"""Database or Redis unavailable → 503 problem+json with Retry-After, nothing half-written
(spec §1.1; reliability §7.1 X1/X3, §8 row 25)."""

from __future__ import annotations

import socket
from typing import Any

import pytest
import redis
import sqlalchemy as sa
from flask import Flask, jsonify

from core import create_app
from core.db import session_scope
from core.models import IdempotencyRecord
from plugins.testing import fake_channel
from tests.conftest import count_rows

PRODUCTS = "/api/public/v1/products"
LEAKS = ("Traceback", "sqlalchemy", "psycopg", "redis.exceptions", "127.0.0.1", "/work/", ".py")


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def build(app_config: dict[str, Any], **overrides: Any) -> Flask:
    return create_app({**app_config, **overrides}, plugins=(fake_channel,))


def assert_unavailable(response: Any) -> None:
    assert response.status_code == 503
    assert response.content_type == "application/problem+json"
    assert int(response.headers["Retry-After"]) > 0
    body = response.get_json()
    assert body["code"] == "service_unavailable" and body["requestId"]
    assert not [leak for leak in LEAKS if leak in response.get_data(as_text=True)]


def test_redis_down_for_the_rate_limiter_is_503_and_claims_no_key(app_config, tenant, sessions):
    down = build(app_config, MARKAESTRO_RATE_LIMIT="100/minute",
                 MARKAESTRO_REDIS_URL=f"redis://127.0.0.1:{closed_port()}/0")
    client = down.test_client()
    assert_unavailable(client.get(PRODUCTS, headers=tenant.headers))
    assert_unavailable(client.post("/api/public/v1/media", data=b"x", content_type="application/octet-stream",
                                   headers={**tenant.headers, "Idempotency-Key": "k"}))
    assert count_rows(sessions, IdempotencyRecord) == 0


def test_redis_down_inside_a_view_is_503_and_releases_the_key(app_config, tenant, sessions):
    down_url = f"redis://127.0.0.1:{closed_port()}/0"
    application = build(app_config)
    calls: list[int] = []

    def enqueue() -> Any:
        calls.append(1)
        redis.Redis.from_url(down_url, socket_connect_timeout=1).ping()
        return jsonify({}), 202

    application.add_url_rule("/api/public/v1/_test/enqueue", "test_enqueue", enqueue, methods=["POST"])
    client = application.test_client()
    headers = {**tenant.headers, "Idempotency-Key": "k-redis"}
    assert_unavailable(client.post("/api/public/v1/_test/enqueue", json={}, headers=headers))
    assert count_rows(sessions, IdempotencyRecord) == 0
    assert_unavailable(client.post("/api/public/v1/_test/enqueue", json={}, headers=headers))
    assert len(calls) == 2  # the retry with the same key ran again


def test_database_down_is_503(app_config, tenant):
    dead = build(app_config, MARKAESTRO_DATABASE_URL=f"postgresql+psycopg://postgres@127.0.0.1:{closed_port()}/x")
    client = dead.test_client()
    assert_unavailable(client.get(PRODUCTS, headers=tenant.headers))
    assert_unavailable(client.post("/api/public/v1/media", headers={**tenant.headers, "Idempotency-Key": "k"}))
    dead.extensions["markaestro.engine"].dispose()


def test_database_lost_during_a_view_is_503_and_releases_the_key(app, client, tenant, sessions):
    dead = sa.create_engine(f"postgresql+psycopg://postgres@127.0.0.1:{closed_port()}/x")

    def write() -> Any:
        with dead.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
        return jsonify({}), 201

    app.add_url_rule("/api/public/v1/_test/write", "test_write", write, methods=["POST"])
    response = client.post("/api/public/v1/_test/write", json={}, headers={**tenant.headers, "Idempotency-Key": "k"})
    assert_unavailable(response)
    with session_scope(sessions) as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(IdempotencyRecord)) == 0


@pytest.mark.parametrize("path", ["/api/public/v1/openapi.json"])
def test_documents_that_need_no_backing_service_still_answer(app_config, path):
    dead = build(app_config, MARKAESTRO_DATABASE_URL=f"postgresql+psycopg://postgres@127.0.0.1:{closed_port()}/x",
                 MARKAESTRO_RATE_LIMIT="100/minute", MARKAESTRO_REDIS_URL=f"redis://127.0.0.1:{closed_port()}/0")
    assert dead.test_client().get(path).status_code == 200
