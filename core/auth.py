"""Bearer API-key authentication for the public API.

Two request hooks, registered in this order by the app factory with the rate
limiter between them:

1. :func:`identify_caller` resolves the ``Authorization`` header to a live key
   and puts ``g.workspace_id`` / ``g.api_key_id`` on ``flask.g``; a failure is
   remembered, not raised, so that the limiter can throttle it by address;
2. :func:`require_caller` raises the remembered 401.

Views read the workspace only through :func:`current_workspace_id`; services
receive it as an argument. Keys are never accepted in the query string.
"""

from __future__ import annotations

from flask import Flask, g, request

from .config import API_PREFIX
from .db_session import get_session
from .errors import Unauthorized
from .services.api_keys import authenticate

PUBLIC_PATHS = (f"{API_PREFIX}/openapi.json", f"{API_PREFIX}/docs")
QUERY_KEY_NAMES = ("api_key", "apiKey", "key", "access_token", "token")
BEARER_HINT = "send 'Authorization: Bearer <api key>'"


def needs_auth() -> bool:
    """Whether the current request is an API call that requires a key."""
    path = request.path
    if request.method == "OPTIONS" or not (path.startswith(API_PREFIX + "/") or path == API_PREFIX):
        return False
    return not path.startswith(PUBLIC_PATHS)


def _bearer_token() -> str:
    """The token of ``Authorization: Bearer <token>``; raise 401 for anything else."""
    header = request.headers.get("Authorization", "")
    if not header:
        if any(name in request.args for name in QUERY_KEY_NAMES):
            raise Unauthorized(f"API keys are accepted only in the Authorization header, never in the URL; "
                               f"{BEARER_HINT}.")
        raise Unauthorized(f"Missing Authorization header; {BEARER_HINT}.")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized(f"Malformed Authorization header; {BEARER_HINT}.")
    return token.strip()


def identify_caller() -> None:
    """Before-request hook: set ``g.workspace_id`` and ``g.api_key_id``, or remember why not.

    Database errors propagate (they become 503); authentication failures are
    kept on ``g.auth_failure`` for :func:`require_caller`.
    """
    g.auth_failure = None
    if not needs_auth():
        return
    try:
        key = authenticate(get_session(), _bearer_token())
        if key is None:
            raise Unauthorized("The API key is invalid or has been revoked.")
    except Unauthorized as failure:
        g.auth_failure = failure
        key = None
    _end_read_transaction()
    if key is not None:
        g.workspace_id = key.workspace_id
        g.api_key_id = key.id


def _end_read_transaction() -> None:
    # Release the read transaction (on SQLite, BEGIN IMMEDIATE holds the write lock).
    session = g.get("db_session")
    if session is not None and session.in_transaction():
        session.commit()


def require_caller() -> None:
    """Before-request hook: answer 401 (``WWW-Authenticate: Bearer``) for an unidentified caller."""
    failure = g.get("auth_failure")
    if failure is not None:
        raise failure


def current_workspace_id() -> str:
    return str(g.workspace_id)


def current_api_key_id() -> str | None:
    """The id of the key that authenticated this request, if any."""
    key_id = g.get("api_key_id")
    return str(key_id) if key_id else None


def init_app(app: Flask) -> None:
    """Install :func:`identify_caller`; :func:`init_enforcement` must follow the rate limiter."""
    app.before_request(identify_caller)


def init_enforcement(app: Flask) -> None:
    """Install :func:`require_caller` (after the rate limiter, before the idempotency layer)."""
    app.before_request(require_caller)
