"""Operator pages: rq-dashboard at ``/operator/rq`` behind HTTP basic auth.

Mounted only when ``MARKAESTRO_OPERATOR_USER`` and
``MARKAESTRO_OPERATOR_PASSWORD`` are both set; otherwise ``/operator/...``
does not exist (404). Jobs are shown with the JSON serializer they use.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable

from flask import Flask, Response, request
from rq.serializers import JSONSerializer

PREFIX = "/operator/rq"


def init_app(app: Flask) -> None:
    user, password = app.config.get("MARKAESTRO_OPERATOR_USER"), app.config.get("MARKAESTRO_OPERATOR_PASSWORD")
    if not user or not password:
        return
    import rq_dashboard
    from rq_dashboard import web

    web.config.serializer = JSONSerializer
    app.config.setdefault("RQ_DASHBOARD_REDIS_URL", app.config["MARKAESTRO_REDIS_URL"])
    web.setup_rq_connection(app)
    app.before_request(_require_operator(str(user), str(password)))
    app.register_blueprint(rq_dashboard.blueprint, url_prefix=PREFIX)


def _require_operator(user: str, password: str) -> Callable[[], Response | None]:
    def check() -> Response | None:
        if not request.path.startswith(PREFIX):
            return None
        auth = request.authorization
        given_user = auth.username if auth and auth.username else ""
        given_password = auth.password if auth and auth.password else ""
        user_ok = hmac.compare_digest(given_user.encode(), user.encode())
        if hmac.compare_digest(given_password.encode(), password.encode()) and user_ok:
            return None
        return Response("operator credentials required", 401,
                        {"WWW-Authenticate": 'Basic realm="markaestro operator"'})

    return check
