"""Every error is RFC 9457 problem+json with a stable code and the request id (spec §1, §1.1)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask, abort

API = "/api/public/v1"
LEAKS = ("Traceback", "SELECT", "sqlalchemy", "/work/", "/srv/", ".py", "secret-host")


def assert_problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status
    assert response.content_type == "application/problem+json"
    body: dict[str, Any] = response.get_json()
    assert body["status"] == status and body["code"] == code
    assert body["type"] == "https://markaestro.dev/problems/" + code.replace("_", "-")
    assert body["title"] and body["detail"]
    assert body["requestId"] == response.headers["X-Request-Id"]
    assert not [leak for leak in LEAKS if leak in response.get_data(as_text=True)]
    return body


@pytest.fixture
def failing_app(app: Flask) -> Flask:
    def explode() -> Any:
        raise RuntimeError("SELECT secret FROM keys at /srv/app/core/x.py on secret-host")

    app.add_url_rule(f"{API}/_test/explode", "test_explode", explode, methods=["GET", "POST"])
    app.add_url_rule(f"{API}/_test/teapot", "test_teapot", lambda: abort(418), methods=["GET"])
    return app


def test_unknown_route_is_404_problem(client, tenant):
    assert_problem(client.get(f"{API}/nothing-here", headers=tenant.headers), 404, "not_found")


def test_route_outside_the_api_is_404_problem(client):
    assert_problem(client.get("/nothing-here"), 404, "not_found")


def test_wrong_method_is_405_with_allow(client, tenant):
    response = client.delete(f"{API}/products", headers=tenant.headers)
    assert_problem(response, 405, "method_not_allowed")
    assert "GET" in response.headers["Allow"]


def test_body_over_the_request_limit_is_413_problem(app, client, tenant):
    app.config["MAX_CONTENT_LENGTH"] = 64
    app.add_url_rule(f"{API}/_test/json", "test_json", lambda: ({}, 201), methods=["POST"])
    response = client.post(f"{API}/_test/json", json={"text": "x" * 200},
                           headers={**tenant.headers, "Idempotency-Key": "k"})
    assert_problem(response, 413, "payload_too_large")


def test_malformed_json_is_400_malformed_json(client, tenant):
    response = client.post(f"{API}/posts", data='{"caption": ', content_type="application/json",
                           headers=tenant.headers)
    assert_problem(response, 400, "malformed_json")


@pytest.mark.parametrize("query", ["limit=abc", "limit=0", "limit=101"])
def test_bad_query_values_are_400(client, tenant, query):
    body = assert_problem(client.get(f"{API}/products?{query}", headers=tenant.headers), 400, "invalid_query")
    assert "limit" in body["errors"]


def test_unexpected_exception_is_a_500_that_leaks_nothing(failing_app, client, tenant):
    for method in (client.get, client.post):
        body = assert_problem(method(f"{API}/_test/explode", headers=tenant.headers), 500, "internal_error")
        assert "secret" not in body["detail"]


def test_other_http_errors_keep_their_status(failing_app, client, tenant):
    assert_problem(client.get(f"{API}/_test/teapot", headers=tenant.headers), 418, "http_error")


def test_valid_request_ids_are_echoed_on_success_and_error(client, tenant):
    incoming = "Abc-123_x.y"
    ok = client.get(f"{API}/products", headers={**tenant.headers, "X-Request-Id": incoming})
    missing = client.get(f"{API}/products/prod_nope", headers={**tenant.headers, "X-Request-Id": incoming})
    assert ok.headers["X-Request-Id"] == missing.headers["X-Request-Id"] == incoming
    assert missing.get_json()["requestId"] == incoming


@pytest.mark.parametrize("incoming", ["", "x" * 129, "has space", "semi;colon", "ünï"])
def test_invalid_request_ids_are_replaced(client, tenant, incoming):
    response = client.get(f"{API}/products", headers={**tenant.headers, "X-Request-Id": incoming})
    generated = response.headers["X-Request-Id"]
    assert generated != incoming and re.fullmatch(r"[A-Za-z0-9._-]{1,128}", generated)


def test_request_ids_are_generated_for_unauthenticated_errors(client):
    first = client.get(f"{API}/products")
    second = client.get(f"{API}/products")
    assert_problem(first, 401, "unauthorized")
    assert first.headers["X-Request-Id"] != second.headers["X-Request-Id"]
    assert client.get(f"{API}/openapi.json").headers["X-Request-Id"]
