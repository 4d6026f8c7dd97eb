"""The OpenAPI document describes every posts route, body and error."""

from __future__ import annotations

import pytest
from openapi_spec_validator import validate

ROUTES = {
    ("/api/public/v1/posts", "post"): {"201", "400", "401", "422", "429", "503"},
    ("/api/public/v1/posts", "get"): {"200", "400", "401", "429", "503"},
    ("/api/public/v1/posts/{post_id}", "get"): {"200", "401", "404", "429", "503"},
    ("/api/public/v1/posts/{post_id}", "patch"): {"200", "400", "401", "404", "409", "422", "429", "503"},
    ("/api/public/v1/posts/{post_id}", "delete"): {"200", "401", "404", "409", "429", "503"},
}


@pytest.fixture
def document(client):
    response = client.get("/api/public/v1/openapi.json")
    assert response.status_code == 200
    return response.get_json()


def test_the_document_validates(document):
    validate(document)


@pytest.mark.parametrize(("path", "method"), list(ROUTES))
def test_each_posts_route_documents_its_responses(document, path, method):
    operation = document["paths"][path][method]
    assert set(operation["responses"]) >= ROUTES[(path, method)]
    for status, response in operation["responses"].items():
        if status == "default" or int(status) >= 400:
            ref = response.get("$ref", "")
            resolved = document["components"]["responses"][ref.rsplit("/", 1)[1]] if ref else response
            assert "application/problem+json" in resolved["content"], (path, method, status)


def test_bodies_and_the_post_object_are_described(document):
    schemas = document["components"]["schemas"]
    assert set(schemas["PostCreate"]["properties"]) == {
        "channel", "caption", "mediaAssetIds", "productId", "destinationId", "scheduledAt", "options"}
    assert set(schemas["PostCreate"]["required"]) == {"channel", "productId"}
    assert set(schemas["PostPatch"]["properties"]) == {
        "caption", "mediaAssetIds", "options", "scheduledAt", "destinationId"}
    assert list(schemas["Post"]["properties"]) == [
        "id", "productId", "channel", "destinationId", "caption", "mediaAssetIds", "options", "status",
        "scheduledAt", "createdAt", "updatedAt", "latestJobRunId", "publishResults", "nextAction"]
    list_params = {p["name"] for p in document["paths"]["/api/public/v1/posts"]["get"]["parameters"]}
    assert list_params == {"limit", "cursor", "status", "productId", "channel"}
