"""The Alembic migration creates exactly the schema the models describe, on both backends."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from core import models  # noqa: F401  (complete the metadata)
from core.db import Base, make_engine
from core.migrate import alembic_config, upgrade
from tests.services import postgres_admin_url, postgres_database


@pytest.fixture
def fresh_url(backend: str, tmp_path: Path) -> Iterator[str]:
    """An empty database of ``backend`` for this test alone."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
        return
    admin = postgres_admin_url()
    if admin is None:
        pytest.skip("no PostgreSQL server reachable (set MARKAESTRO_TEST_POSTGRES_URL)")
    with postgres_database(admin) as url:
        yield url


def differences(url: str) -> list[object]:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True,
                                                                   "compare_server_default": True})
            return list(compare_metadata(context, Base.metadata))
    finally:
        engine.dispose()


def table_names(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(sa.inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def test_migrated_schema_matches_the_models(fresh_url):
    upgrade(fresh_url)
    assert table_names(fresh_url) == set(Base.metadata.tables)
    assert differences(fresh_url) == []


def test_migration_downgrades_to_nothing_and_upgrades_again(fresh_url):
    upgrade(fresh_url)
    command.downgrade(alembic_config(fresh_url), "base")
    assert table_names(fresh_url) == set()
    upgrade(fresh_url)
    assert differences(fresh_url) == []


def test_idempotency_keys_are_unique_per_workspace_in_the_schema(fresh_url):
    upgrade(fresh_url)
    engine = make_engine(fresh_url)
    try:
        constraints = sa.inspect(engine).get_unique_constraints("idempotency_records")
    finally:
        engine.dispose()
    assert ["workspace_id", "key"] in [c["column_names"] for c in constraints]
