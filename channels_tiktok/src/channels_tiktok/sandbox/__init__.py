"""A TikTok Content Posting API emulator (WSGI), for development and tests.

It speaks the protocol the plugin speaks, as recorded in
``shared/reference/platforms.md`` §4 (which cites TikTok's docs): the v2
envelope, bearer tokens with scopes, inbox video init with chunk rules, a
chunk upload URL, photo ``content/init`` with a real PULL_FROM_URL fetch,
``status/fetch`` with ``PROCESSING_UPLOAD``/``PROCESSING_DOWNLOAD`` →
``SEND_TO_USER_INBOX`` → ``PUBLISH_COMPLETE`` (or ``FAILED``), OAuth with
rotating refresh tokens, ``user/info``, per-token rate limits and the
pending inbox share limit. Failures and delays are configured through
:class:`SandboxConfig`, :class:`SandboxState` or the ``/_sandbox/`` control API.

``create_app()`` returns a Flask app; ``app.extensions["tiktok_sandbox"]``
is its :class:`SandboxState`.
"""

from __future__ import annotations

import time

from flask import Flask, Response, g, request

from . import control, oauth, posting, upload
from .common import ApiError, error_response, state
from .state import Logged, SandboxConfig, SandboxState

__all__ = ["SandboxConfig", "SandboxState", "create_app", "sandbox_state"]


def create_app(config: SandboxConfig | None = None) -> Flask:
    """A fresh sandbox with its own state."""
    app = Flask("channels_tiktok.sandbox", static_folder=None)
    app.extensions["tiktok_sandbox"] = SandboxState(config)
    for blueprint in (posting.bp, upload.bp, oauth.bp, control.bp):
        app.register_blueprint(blueprint)
    app.register_error_handler(ApiError, error_response)
    app.after_request(_record)
    return app


def sandbox_state(app: Flask) -> SandboxState:
    """The state of a sandbox made by :func:`create_app`."""
    return app.extensions["tiktok_sandbox"]  # type: ignore[no-any-return]


def _record(response: Response) -> Response:
    """Log every non-control request, then apply an injected ``slow:`` delay."""
    if not request.path.startswith("/_sandbox"):
        state().record(Logged(request.method, request.path, response.status_code, _code(response),
                              body=_request_body(), content_range=request.headers.get("Content-Range")))
    delay = getattr(g, "sandbox_delay_s", 0.0)
    if delay:
        time.sleep(delay)
    return response


def _code(response: Response) -> str:
    if not response.is_json:
        return ""
    body = response.get_json(silent=True) or {}
    error = body.get("error")
    return str(error.get("code", "")) if isinstance(error, dict) else str(error or "")


def _request_body() -> object:
    if request.method == "PUT":
        return None
    if request.is_json:
        return request.get_json(silent=True)
    return dict(request.form) if request.form else None
