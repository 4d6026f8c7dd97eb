"""The per-request database session (opened lazily, closed at teardown)."""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app, g
from sqlalchemy.orm import Session

from .db import make_engine, make_session_factory


def init_app(app: Flask) -> None:
    engine = make_engine(app.config["MARKAESTRO_DATABASE_URL"])
    app.extensions["markaestro.engine"] = engine
    app.extensions["markaestro.sessions"] = make_session_factory(engine)
    app.teardown_appcontext(_close_session)


def get_session() -> Session:
    """This request's session; services get it as an argument from the view."""
    if "db_session" not in g:
        g.db_session = current_app.extensions["markaestro.sessions"]()
    session: Session = g.db_session
    return session


def _close_session(_exc: Any) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        session.rollback()
        session.close()
