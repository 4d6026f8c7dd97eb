"""Bearer API-key authentication for the public API.

The authenticated workspace is put on ``flask.g`` by the request hook and
read by views only through :func:`current_workspace_id`; services receive it
as an argument.
"""

from __future__ import annotations

from flask import Flask, g, request

from .config import API_PREFIX
from .db_session import get_session
from .errors import Unauthorized
from .services.api_keys import authenticate

PUBLIC_PATHS = (f"{API_PREFIX}/openapi.json", f"{API_PREFIX}/docs")


def _needs_auth() -> bool:
    path = request.path
    if not path.startswith(API_PREFIX + "/") and path != API_PREFIX:
        return False
    return not path.startswith(PUBLIC_PATHS)


def _bearer_token() -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if not header:
        if any(name in request.args for name in ("api_key", "apiKey", "key", "access_token")):
            raise Unauthorized("API keys are accepted only in the Authorization header, never in the URL.",
                               code="unauthorized")
        raise Unauthorized("Missing Authorization header; send 'Authorization: Bearer <api key>'.")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Malformed Authorization header; send 'Authorization: Bearer <api key>'.")
    return token.strip()


def authenticate_request() -> None:
    """Before-request hook: set ``g.workspace_id`` and ``g.api_key_id`` or answer 401."""
    if request.method == "OPTIONS" or not _needs_auth():
        return
    token = _bearer_token()
    key = authenticate(get_session(), token)
    if key is None:
        raise Unauthorized("The API key is invalid or has been revoked.")
    g.workspace_id = key.workspace_id
    g.api_key_id = key.id


def current_workspace_id() -> str:
    return str(g.workspace_id)


def init_app(app: Flask) -> None:
    app.before_request(authenticate_request)
