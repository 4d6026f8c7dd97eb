"""Serving hosted media URLs (public, unauthenticated, unguessable) (being built)."""

from __future__ import annotations

from flask import Blueprint, Flask

bp = Blueprint("hosting", __name__)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
