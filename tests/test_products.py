"""Products: listing with available channels, one product, tenant isolation."""

from __future__ import annotations

from core.db import session_scope
from core.ids import new_id
from core.models import Destination


def connect(sessions, tenant, channel="fake", account="acct_1", status="connected"):
    with session_scope(sessions) as session:
        session.add(Destination(id=new_id("dst"), workspace_id=tenant.workspace_id, product_id=tenant.product_id,
                                channel=channel, provider=channel, account_id=account, name="Acme",
                                status=status))


def test_lists_products_with_channels_of_connected_destinations(client, sessions, tenant):
    connect(sessions, tenant)
    connect(sessions, tenant, channel="notinstalled")
    response = client.get("/api/public/v1/products", headers=tenant.headers)
    assert response.status_code == 200
    body = response.get_json()
    assert body["nextCursor"] is None
    [product] = body["data"]
    assert product["id"] == tenant.product_id
    assert product["channels"] == ["fake"]
    assert product["createdAt"].endswith("Z")


def test_channel_without_connected_destination_is_not_available(client, sessions, tenant):
    connect(sessions, tenant, status="needs_reauth")
    body = client.get(f"/api/public/v1/products/{tenant.product_id}", headers=tenant.headers).get_json()
    assert body["channels"] == []


def test_another_workspaces_product_is_a_404_like_a_missing_one(client, tenant, other_tenant):
    foreign = client.get(f"/api/public/v1/products/{other_tenant.product_id}", headers=tenant.headers)
    missing = client.get("/api/public/v1/products/prod_doesnotexist", headers=tenant.headers)
    assert foreign.status_code == missing.status_code == 404
    assert foreign.content_type == "application/problem+json"
    strip = lambda r: {k: v for k, v in r.get_json().items() if k not in ("requestId", "detail")}  # noqa: E731
    assert strip(foreign) == strip(missing)


def test_destinations_carry_channel_rules(client, sessions, tenant):
    connect(sessions, tenant, account="urn:li:organization:1")
    body = client.get(f"/api/public/v1/products/{tenant.product_id}/destinations", headers=tenant.headers).get_json()
    [dest] = body["data"]
    assert dest["id"] == "fake:fake:urn:li:organization:1"
    assert dest["accountId"] == "urn:li:organization:1"
    assert dest["delivery"] == "direct"
    assert dest["rules"]["maxItems"] == 4 and dest["rules"]["captionMaxLength"] == 280
