"""The OpenAPI document validates and describes every route of the app (spec §1).

Generic over ``app.url_map``: a route added under the API prefix without
documentation, or documenting an error that is not problem+json, fails here.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from openapi_spec_validator import validate

API = "/api/public/v1"
UNDOCUMENTED = {f"{API}/openapi.json", f"{API}/docs"}
IGNORED_METHODS = {"HEAD", "OPTIONS"}
PROBLEM = "application/problem+json"


@pytest.fixture
def document(client: Any) -> dict[str, Any]:
    response = client.get(f"{API}/openapi.json")
    assert response.status_code == 200
    body: dict[str, Any] = response.get_json()
    return body


def openapi_path(rule: str) -> str:
    """``/posts/<post_id>`` → ``/posts/{post_id}`` (converters dropped)."""
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


def api_operations(app: Any) -> list[tuple[str, str]]:
    operations = []
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith(API + "/") and rule.rule not in UNDOCUMENTED:
            operations += [(openapi_path(rule.rule), m.lower()) for m in rule.methods - IGNORED_METHODS]
    return sorted(operations)


def resolve(document: dict[str, Any], response: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in response:
        name = response["$ref"].rsplit("/", 1)[-1]
        resolved: dict[str, Any] = document["components"]["responses"][name]
        return resolved
    return response


def test_document_is_valid_openapi(document):
    validate(document)


def test_every_api_route_is_documented(app, document):
    operations = api_operations(app)
    assert operations, "no API routes registered"
    missing = [(path, method) for path, method in operations if method not in document["paths"].get(path, {})]
    assert missing == []


def test_every_documented_error_is_problem_json(app, document):
    wrong = []
    for path, method in api_operations(app):
        responses = document["paths"][path][method]["responses"]
        for status, response in responses.items():
            if status == "default" or int(status) >= 400:
                content = resolve(document, response).get("content", {})
                if list(content) != [PROBLEM] or "$ref" not in content[PROBLEM]["schema"]:
                    wrong.append((method, path, status))
    assert wrong == []


def test_every_operation_documents_auth_rate_limit_and_unavailable_errors(app, document):
    lacking = [(method, path) for path, method in api_operations(app)
               if not {"401", "429", "503"} <= set(document["paths"][path][method]["responses"])]
    assert lacking == []


def test_every_post_documents_the_idempotency_key(app, document):
    lacking = []
    for path, method in api_operations(app):
        if method != "post":
            continue
        operation = document["paths"][path][method]
        names = {p["name"] for p in operation.get("parameters", []) if p.get("in") == "header"}
        if "Idempotency-Key" not in names or not {"409", "422"} <= set(operation["responses"]):
            lacking.append(path)
    assert lacking == []


def test_rate_limit_and_unavailable_errors_document_their_headers(document):
    responses = document["components"]["responses"]
    assert set(responses["TOO_MANY_REQUESTS"]["headers"]) == {"Retry-After", "RateLimit", "RateLimit-Policy"}
    assert set(responses["SERVICE_UNAVAILABLE"]["headers"]) == {"Retry-After"}


def test_every_posts_success_documents_a_replayed_response(app, document):
    lacking = []
    for path, method in api_operations(app):
        if method != "post":
            continue
        successes = {status: response for status, response in document["paths"][path][method]["responses"].items()
                     if status.startswith("2")}
        if not successes or any("Idempotent-Replayed" not in r.get("headers", {}) for r in successes.values()):
            lacking.append(path)
    assert lacking == []


def test_retention_policy_is_published(document):
    assert "at least 24 hours" in document["info"]["description"]


def test_docs_page_answers(client):
    response = client.get(f"{API}/docs")
    assert response.status_code == 200
    assert "swagger" in response.get_data(as_text=True).lower()
