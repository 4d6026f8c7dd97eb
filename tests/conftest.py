"""Fixtures: a live app on SQLite and PostgreSQL, real Redis, workspaces and keys."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from core import create_app
from core.db import Base, make_engine, make_session_factory, session_scope
from core.migrate import upgrade
from core.services import api_keys, catalog
from plugins.testing import fake_channel
from tests.services import postgres_admin_url, postgres_database, redis_server

BACKENDS = ["sqlite", "postgresql"]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--backend", action="append", choices=BACKENDS,
                     help="database backends to test (default: both; PostgreSQL where reachable)")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames:
        chosen = metafunc.config.getoption("backend") or BACKENDS
        metafunc.parametrize("backend", chosen, scope="session")


@pytest.fixture(scope="session")
def redis_base_url() -> Iterator[str]:
    with redis_server() as url:
        yield url


@pytest.fixture(scope="session")
def redis_url(redis_base_url: str) -> str:
    """A Redis database of its own for this session (flushed before each test)."""
    return redis_base_url.rsplit("/", 1)[0] + f"/{random.randint(1, 15)}"


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    yield client
    client.close()


@pytest.fixture(scope="session")
def database_url(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated database of the requested backend for the whole session."""
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'markaestro.db'}"
        upgrade(url)
        yield url
        return
    admin = postgres_admin_url()
    if admin is None:
        pytest.skip("no PostgreSQL server reachable (set MARKAESTRO_TEST_POSTGRES_URL)")
    with postgres_database(admin) as url:
        upgrade(url)
        yield url


@pytest.fixture
def clean_database(database_url: str) -> str:
    """The session's database with every table emptied."""
    engine = make_engine(database_url)
    with engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            connection.execute(table.delete())
    engine.dispose()
    return database_url


@pytest.fixture
def app_config(clean_database: str, redis_url: str, redis_client: redis.Redis, tmp_path: Path) -> dict[str, Any]:
    return {
        "TESTING": True,
        "MARKAESTRO_DATABASE_URL": clean_database,
        "MARKAESTRO_REDIS_URL": redis_url,
        "MARKAESTRO_MEDIA_DIR": str(tmp_path / "media"),
        "MARKAESTRO_PUBLIC_URL": "http://media.test",
        "MARKAESTRO_RATE_LIMIT": "off",
        "MARKAESTRO_LOAD_PLUGINS": False,
        "MARKAESTRO_SECRET_KEY": "Qq7W7pD9N3vQ2eqk0oT2mYx8l2bq2cT7Xk1i4oQW7dE=",
    }


@pytest.fixture
def app(app_config: dict[str, Any]) -> Iterator[Flask]:
    application = create_app(app_config, plugins=(fake_channel,))
    yield application
    application.extensions["markaestro.engine"].dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def sessions(app: Flask) -> Any:
    """A session factory bound to the app's database, for arranging and asserting."""
    return app.extensions["markaestro.sessions"]


@dataclass
class Tenant:
    """A workspace with an API key and one product."""

    workspace_id: str
    key_id: str
    key: str
    product_id: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


def make_tenant(sessions: Any, name: str) -> Tenant:
    with session_scope(sessions) as session:
        workspace = catalog.create_workspace(session, name)
        key = api_keys.create_key(session, workspace.id, "test")
        product = catalog.create_product(session, workspace.id, f"{name} product")
        return Tenant(workspace.id, key.id, key.key, product.id)


@pytest.fixture
def tenant(sessions: Any) -> Tenant:
    return make_tenant(sessions, "Acme")


@pytest.fixture
def other_tenant(sessions: Any) -> Tenant:
    return make_tenant(sessions, "Globex")


def count_rows(sessions: Any, model: Any) -> int:
    with session_scope(sessions) as session:
        return int(session.scalar(sa.select(sa.func.count()).select_from(model)) or 0)


@pytest.fixture
def make_session_factory_for() -> Any:
    return make_session_factory
