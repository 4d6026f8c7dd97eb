"""Fixtures for the post tests: destinations, media rows and a small client for /posts.

Loaded by the ``tests/test_posts*.py`` modules through ``pytest_plugins``
(only fixtures are used from here, so the module is imported by pytest and
its assertions are rewritten).
Media rows are created directly in the database (with plausible probed
metadata), so these tests do not depend on the upload endpoint.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from core.db import session_scope
from core.ids import new_id
from core.models import Destination, MediaAsset, Post
from tests.conftest import Tenant

POSTS = "/api/public/v1/posts"
PLUS_TWO = timezone(timedelta(hours=2))


def in_future(hours: float = 24) -> datetime:
    """A moment ``hours`` from now, expressed at UTC+02:00 (so conversion to UTC is visible)."""
    return (datetime.now(UTC) + timedelta(hours=hours)).astimezone(PLUS_TWO).replace(microsecond=0)


@dataclass
class PostsClient:
    """``/posts`` calls as one tenant."""

    client: FlaskClient
    tenant: Tenant

    def create(self, **body: Any) -> TestResponse:
        return self.client.post(POSTS, json=body, headers=self.tenant.headers)

    def create_ok(self, **body: Any) -> dict[str, Any]:
        response = self.create(**body)
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    def get(self, post_id: str) -> TestResponse:
        return self.client.get(f"{POSTS}/{post_id}", headers=self.tenant.headers)

    def list(self, **query: Any) -> TestResponse:
        return self.client.get(POSTS, query_string=query, headers=self.tenant.headers)

    def patch(self, post_id: str, **body: Any) -> TestResponse:
        return self.client.patch(f"{POSTS}/{post_id}", json=body, headers=self.tenant.headers)

    def delete(self, post_id: str) -> TestResponse:
        return self.client.delete(f"{POSTS}/{post_id}", headers=self.tenant.headers)


@pytest.fixture
def api(client: FlaskClient, tenant: Tenant) -> PostsClient:
    return PostsClient(client, tenant)


@pytest.fixture
def other_api(client: FlaskClient, other_tenant: Tenant) -> PostsClient:
    return PostsClient(client, other_tenant)


ConnectFn = Callable[..., str]


@pytest.fixture
def connect(sessions: Any, tenant: Tenant) -> ConnectFn:
    """``connect(account=..., channel=..., status=..., product_id=..., owner=...)`` → the public destination id."""

    def make(account: str = "acct_1", *, channel: str = "fake", status: str = "connected",
             product_id: str | None = None, owner: Tenant | None = None) -> str:
        owner = owner or tenant
        with session_scope(sessions) as session:
            row = Destination(id=new_id("dst"), workspace_id=owner.workspace_id,
                              product_id=product_id or owner.product_id, channel=channel, provider=channel,
                              account_id=account, name=f"{account} on {channel}", status=status)
            session.add(row)
            return row.public_id

    return make


@pytest.fixture
def destination(connect: ConnectFn) -> str:
    """The tenant product's one connected ``fake`` destination."""
    return connect("acct_1")


MediaFn = Callable[..., str]

IMAGE = {"kind": "image", "mime_type": "image/jpeg", "size_bytes": 482_113, "width": 1080, "height": 1350}
VIDEO = {"kind": "video", "mime_type": "video/mp4", "size_bytes": 31_457_280, "width": 1080, "height": 1920,
         "duration_seconds": 12.5}


@pytest.fixture
def media(sessions: Any, tenant: Tenant) -> MediaFn:
    """``media("image" | "video", owner=..., **overrides)`` → the id of a stored asset row."""

    def make(kind: str = "image", *, owner: Tenant | None = None, **overrides: Any) -> str:
        owner = owner or tenant
        asset_id = new_id("ast")
        values = {**(IMAGE if kind == "image" else VIDEO), **overrides}
        with session_scope(sessions) as session:
            session.add(MediaAsset(id=asset_id, workspace_id=owner.workspace_id,
                                   sha256=hashlib.sha256(asset_id.encode()).hexdigest(),
                                   filename=f"{kind}.bin", storage_key=f"{asset_id}/original", **values))
        return asset_id

    return make


@pytest.fixture
def set_status(sessions: Any) -> Callable[[str, str], None]:
    """Move a post to ``status`` behind the API's back (as the publish pipeline would)."""

    def move(post_id: str, status: str) -> None:
        with session_scope(sessions) as session:
            post = session.get(Post, post_id)
            assert post is not None
            post.status = status

    return move


@pytest.fixture
def future() -> Callable[..., datetime]:
    """``future(hours=24)``: a moment ahead, at UTC+02:00 (see :func:`in_future`)."""
    return in_future


@pytest.fixture
def problem_sans_ids() -> Callable[[TestResponse], dict[str, Any]]:
    """A problem body without the members that differ per request (``requestId``, ``detail``)."""

    def strip(response: TestResponse) -> dict[str, Any]:
        return {k: v for k, v in response.get_json().items() if k not in ("requestId", "detail")}

    return strip
