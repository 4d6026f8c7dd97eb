"""The browser callback of OAuth connect: ``GET /oauth/callback/<channel>?code=...&state=...``.

No API key: the signed, single-use state (see :mod:`core.services.oauth_connect`)
authenticates the request and names the workspace, product and provider.
Success is 200 JSON ``{"productId", "destinations": [...]}`` (public
destination documents, as ``GET /products/{id}/destinations`` shows them),
or a tiny HTML page when the browser prefers ``text/html``. Errors are
problem+json: 400 (``invalid_state``, ``expired_state``, ``state_used``,
``missing_code``, ``oauth_access_denied``, ``oauth_error``), 422
(``no_destinations``), 502 (``platform_error``: the plugin's message).
"""

from __future__ import annotations

import redis
from flask import Blueprint, Flask, Response, current_app, jsonify, request
from markupsafe import escape

from .channels import current_channels
from .db_session import get_session
from .errors import BadRequest
from .models import Destination
from .resources.serializers import destination_document
from .services import oauth_connect

bp = Blueprint("oauth_callback", __name__)
REDIS_EXTENSION = "markaestro.oauth_redis"


@bp.get("/oauth/callback/<channel>")
def callback(channel: str) -> Response:
    """Verify and spend the state, then connect what the account grants."""
    config = current_app.config
    claims = oauth_connect.read_state(config["MARKAESTRO_SECRET_KEY"], request.args.get("state", ""))
    if claims.channel != channel:
        raise BadRequest("The state was issued for another channel; start the connection again.",
                         code="invalid_state")
    oauth_connect.claim_once(_redis(), claims)
    channels = current_channels()
    if "error" in request.args:
        raise oauth_connect.refusal(channels, channel, request.args["error"],
                                    request.args.get("error_description", ""))
    code = request.args.get("code", "")
    if not code:
        raise BadRequest("The platform sent no authorization code; start the connection again.",
                         code="missing_code")
    product, rows = oauth_connect.finish(
        get_session(), channels, config["MARKAESTRO_SECRET_KEY"], claims, code=code,
        callback_uri=oauth_connect.redirect_uri(config["MARKAESTRO_PUBLIC_URL"], channel))
    if _wants_html():
        return _page(product.name, rows)
    return jsonify({"productId": product.id, "destinations": [destination_document(channels, r) for r in rows]})


def _redis() -> redis.Redis:
    client: redis.Redis | None = current_app.extensions.get(REDIS_EXTENSION)
    if client is None:
        client = redis.Redis.from_url(current_app.config["MARKAESTRO_REDIS_URL"])
        current_app.extensions[REDIS_EXTENSION] = client
    return client


def _wants_html() -> bool:
    best = request.accept_mimetypes.best_match(["application/json", "text/html"], default="application/json")
    return best == "text/html"


def _page(product_name: str, rows: list[Destination]) -> Response:
    items = "".join(f"<li>{escape(row.public_id)} ({escape(row.name)})</li>" for row in rows)
    html = (f"<!doctype html><meta charset=utf-8><title>Connected</title>"
            f"<p>Connected to {escape(product_name)}:</p><ul>{items}</ul><p>You can close this page.</p>")
    response = Response(html, 200, content_type="text/html; charset=utf-8")
    response.headers["Content-Security-Policy"] = "default-src 'none'"
    return response


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)

