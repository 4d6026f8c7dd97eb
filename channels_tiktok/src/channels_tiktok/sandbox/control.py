"""The sandbox's control API under ``/_sandbox/`` (not part of TikTok's).

For tests and for trying the flow by hand; each route mirrors a
:class:`~channels_tiktok.sandbox.state.SandboxState` method:

- ``GET /_sandbox/requests``: the requests answered, in order;
- ``POST /_sandbox/faults`` ``{"endpoint", "fault", "times"}``: inject failures
  (endpoints ``video_init``, ``content_init``, ``status``, ``upload``,
  ``token``, ``user_info``; faults in :mod:`.common`);
- ``POST /_sandbox/fail-next`` ``{"fail_reason"}``: the next publish ends ``FAILED``;
- ``POST /_sandbox/publishes/<publish_id>/complete``: the creator posts the draft;
- ``POST /_sandbox/tokens`` ``{"open_id", "scopes", "expires_in"}``: issue tokens;
- ``POST /_sandbox/tokens/expire`` ``{"access_token"}``: expire a token now;
- ``POST /_sandbox/config`` ``{"processing_delay_s", "publish_after_s", ...}``.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request

from .common import state
from .state import DEFAULT_SCOPES

bp = Blueprint("tiktok_control", __name__, url_prefix="/_sandbox")
TUNABLE = {"processing_delay_s", "publish_after_s", "init_limit", "status_limit", "pending_share_limit",
           "auto_accept_tokens", "fetch_photos"}


def _body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    return body if isinstance(body, dict) else {}


@bp.get("/requests")
def requests_log() -> Response:
    return jsonify({"requests": state().calls()})


@bp.post("/faults")
def faults() -> Response:
    body = _body()
    state().inject(str(body["endpoint"]), str(body["fault"]), int(body.get("times", 1)))
    return jsonify({"ok": True})


@bp.post("/fail-next")
def fail_next() -> Response:
    state().next_fail_reason = str(_body().get("fail_reason", "internal"))
    return jsonify({"ok": True})


@bp.post("/publishes/<publish_id>/complete")
def complete(publish_id: str) -> Response:
    if publish_id not in state().publishes:
        return jsonify({"error": "unknown publish_id"}), 404  # type: ignore[return-value]
    state().complete(publish_id)
    return jsonify({"ok": True})


@bp.post("/tokens")
def tokens() -> Response:
    body = _body()
    scopes = tuple(body.get("scopes") or DEFAULT_SCOPES)
    return jsonify(state().issue_tokens(body.get("open_id"), scopes, body.get("expires_in")))


@bp.post("/tokens/expire")
def expire() -> Response:
    state().expire_token(str(_body().get("access_token", "")))
    return jsonify({"ok": True})


@bp.post("/config")
def config() -> Response:
    for key, value in _body().items():
        if key in TUNABLE:
            setattr(state().config, key, value)
    return jsonify({"ok": True})
