"""The rq-dashboard operator pages: behind HTTP basic auth, and off when no credentials are set."""

from __future__ import annotations

import base64

import pytest

from core import create_app
from plugins.testing import fake_channel


@pytest.fixture
def operator_app(app_config):
    app = create_app({**app_config, "MARKAESTRO_OPERATOR_USER": "ops", "MARKAESTRO_OPERATOR_PASSWORD": "s3cret"},
                     plugins=(fake_channel,))
    yield app
    app.extensions["markaestro.engine"].dispose()


def _basic(user, password):
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def test_dashboard_requires_operator_credentials(operator_app):
    client = operator_app.test_client()
    refused = client.get("/operator/rq/")
    assert refused.status_code == 401 and refused.headers["WWW-Authenticate"].startswith("Basic")
    assert client.get("/operator/rq/", headers=_basic("ops", "wrong")).status_code == 401
    assert client.get("/operator/rq/", headers=_basic("ops", "s3cret")).status_code == 200


def test_dashboard_is_off_without_operator_credentials(client):
    assert client.get("/operator/rq/").status_code == 404
