"""Markaestro core: the Flask application serving the public API v1."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from flask import Flask

from . import auth, channels, config, db_session, hosting, idempotency, oauth_callback, operator, ratelimit, request_ids
from .errors import register_error_handlers
from .extensions import API_SETTINGS, Api


def create_app(test_config: dict[str, Any] | None = None, *, plugins: tuple[object, ...] = ()) -> Flask:
    """Build the application.

    Configuration comes from :data:`core.config.DEFAULTS`, then ``MARKAESTRO_*``
    environment variables, then ``test_config``.

    :param plugins: plugin objects to register besides the installed ones.
    """
    instance_path = os.environ.get("MARKAESTRO_INSTANCE_PATH")
    app = Flask(__name__, instance_path=instance_path or None)
    app.config.update(config.DEFAULTS)
    app.config.update(API_SETTINGS)
    app.config.update(config.from_environment())
    app.config.update(test_config or {})
    config.normalize(app.config, Path(app.instance_path))
    app.config["MAX_CONTENT_LENGTH"] = None  # uploads enforce their own cap while streaming
    app.json.sort_keys = False  # type: ignore[attr-defined]

    request_ids.init_app(app)
    register_error_handlers(app)
    db_session.init_app(app)
    channels.init_app(app, plugins)
    auth.init_app(app)
    ratelimit.init_app(app)
    auth.init_enforcement(app)  # after the limiter: bad keys are throttled by address
    idempotency.init_app(app)
    hosting.init_app(app)
    oauth_callback.init_app(app)
    _init_api(app)
    operator.init_app(app)
    return app


def _init_api(app: Flask) -> None:
    from .resources import register_blueprints

    api = Api(app)
    register_blueprints(api)
    app.extensions["markaestro.api"] = api
