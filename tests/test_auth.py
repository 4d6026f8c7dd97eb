"""Bearer API keys (spec §1.2; reliability §5 K1, K2, K4, §8 row 9)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from core.db import session_scope
from core.services import api_keys

PRODUCTS = "/api/public/v1/products"


def assert_401(response: Any) -> None:
    assert response.status_code == 401
    assert response.content_type == "application/problem+json"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.get_json()["code"] == "unauthorized"


def flipped_last_char(key: str) -> str:
    return key[:-1] + ("A" if key[-1] != "A" else "B")


class QueryCounter:
    def __init__(self) -> None:
        self.statements: list[str] = []

    def __call__(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        self.statements.append(statement)


@pytest.fixture
def queries(app: Any) -> Iterator[QueryCounter]:
    engine = app.extensions["markaestro.engine"]
    counter = QueryCounter()
    event.listen(engine, "before_cursor_execute", counter)
    yield counter
    event.remove(engine, "before_cursor_execute", counter)


def test_a_valid_key_is_accepted(client, tenant):
    assert client.get(PRODUCTS, headers=tenant.headers).status_code == 200


@pytest.mark.parametrize("header", [
    None, "", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Token mk_abc", "mk_abc",
])
def test_missing_or_malformed_authorization_is_401(client, header):
    headers = {} if header is None else {"Authorization": header}
    assert_401(client.get(PRODUCTS, headers=headers))


def test_unknown_key_is_401(client, tenant, sessions):
    with session_scope(sessions) as session:
        unknown = api_keys.create_key(session, tenant.workspace_id).key
        session.execute(sa.text("DELETE FROM api_keys WHERE key_hash = :h"), {"h": api_keys.hash_key(unknown)})
    assert_401(client.get(PRODUCTS, headers={"Authorization": f"Bearer {unknown}"}))


def test_a_bad_checksum_is_refused_without_a_database_query(client, tenant, queries):
    bad = flipped_last_char(tenant.key)
    assert not api_keys.well_formed(bad)
    assert_401(client.get(PRODUCTS, headers={"Authorization": f"Bearer {bad}"}))
    assert queries.statements == []


def test_a_well_formed_key_does_query_the_database(client, tenant, queries):
    client.get(PRODUCTS, headers=tenant.headers)
    assert queries.statements  # the counter is live, so the zero above means something


def test_revocation_takes_effect_on_the_next_request(client, tenant, sessions):
    assert client.get(PRODUCTS, headers=tenant.headers).status_code == 200
    with session_scope(sessions) as session:
        api_keys.revoke_key(session, tenant.key_id)
    assert_401(client.get(PRODUCTS, headers=tenant.headers))


@pytest.mark.parametrize("name", ["api_key", "apiKey", "key", "access_token", "token"])
def test_a_key_in_the_query_string_is_never_accepted(client, tenant, name):
    response = client.get(f"{PRODUCTS}?{name}={tenant.key}")
    assert_401(response)
    assert "never in the URL" in response.get_json()["detail"]
    assert tenant.key not in response.get_data(as_text=True)


def test_a_query_string_key_does_not_help_a_bad_header(client, tenant):
    assert_401(client.get(f"{PRODUCTS}?api_key={tenant.key}", headers={"Authorization": "Bearer nope"}))


def test_keys_are_stored_only_as_hashes(client, tenant, sessions):
    secret = tenant.key[len(api_keys.KEY_PREFIX):-6]
    with session_scope(sessions) as session:
        rows = session.execute(sa.text("SELECT * FROM api_keys")).all()
    dump = repr(rows)
    assert api_keys.hash_key(tenant.key) in dump
    assert secret not in dump and secret[:16] not in dump and secret[-16:] not in dump


def test_the_key_is_not_logged(client, tenant, caplog):
    caplog.set_level("DEBUG")
    client.get(f"{PRODUCTS}?api_key={tenant.key}")
    client.get(PRODUCTS, headers={"Authorization": f"Bearer {flipped_last_char(tenant.key)}"})
    assert tenant.key[:-1] not in caplog.text


def test_docs_need_no_key(client):
    assert client.get("/api/public/v1/openapi.json").status_code == 200
