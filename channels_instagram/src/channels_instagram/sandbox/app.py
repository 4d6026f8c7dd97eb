"""The sandbox WSGI app: Graph endpoints, Instagram Login OAuth, and a control API.

Control API (JSON, under ``/_sandbox``): ``GET|DELETE requests`` (the request
log), ``POST config``, ``POST faults``, ``POST clock`` (``{"advance_s": n}``),
``POST tokens``, ``POST pages``, ``GET state``.
"""

from __future__ import annotations

import re
import secrets
import time
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Flask, Response, current_app, jsonify, redirect, request

from .graph_routes import endpoint_name, graph_call
from .model import GraphFault, SandboxConfig
from .state import LONG_LIVED_S, SCOPES, SandboxState

VERSION = re.compile(r"^v\d+\.\d+(/|$)")
INJECTED = {"server_error", "rate_limit", "expired_token", "invalid_token", "error"}


def _params() -> dict[str, str]:
    merged = {**request.args.to_dict(), **request.form.to_dict()}
    if request.is_json and isinstance(request.get_json(silent=True), dict):
        merged.update({k: v if isinstance(v, str) else _json_text(v) for k, v in request.get_json().items()})
    auth = request.headers.get("Authorization", "")
    if auth.startswith("Bearer ") and "access_token" not in merged:
        merged["access_token"] = auth[7:]
    return merged


def _json_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


def _fault_error(fault: Any) -> GraphFault:
    if fault.kind == "server_error":
        return GraphFault("An unexpected error has occurred. Please retry your request later.", code=2, status=500,
                          is_transient=True)
    if fault.kind == "rate_limit":
        headers = {"X-Business-Use-Case-Usage": _usage(fault.retry_after_minutes)} if fault.retry_after_minutes else {}
        return GraphFault("(#4) Application request limit reached", code=fault.code if fault.code != 1 else 4,
                          is_transient=True, headers=headers)
    if fault.kind == "expired_token":
        return GraphFault("Error validating access token: Session has expired.", code=190, subcode=463)
    if fault.kind == "invalid_token":
        return GraphFault("Error validating access token: The user has not authorized application.", code=190,
                          subcode=460)
    return GraphFault(fault.message or "Injected error", code=fault.code, subcode=fault.subcode,
                      status=fault.status)


def _usage(minutes: int) -> str:
    import json

    return json.dumps({"1": [{"type": "instagram", "call_count": 100, "estimated_time_to_regain_access": minutes}]})


def _error_response(fault: GraphFault) -> Response:
    response = jsonify(fault.envelope("A" + secrets.token_urlsafe(16)))
    response.status_code = fault.status
    response.headers.update(fault.headers)
    return response


def _oauth(state: SandboxState, route: str, params: dict[str, str]) -> Any:
    """Instagram Login: consent (auto-approved), code exchange, long-lived exchange, refresh."""
    if route == "oauth/authorize":
        query = urlencode({"code": state.issue_code(), "state": params.get("state", "")})
        return redirect(f"{params['redirect_uri']}?{query}", code=302)
    if route == "oauth/access_token":
        if not params.get("client_id") or not params.get("client_secret"):
            return jsonify({"error_type": "OAuthException", "code": 400, "error_message": "Missing client_id"}), 400
        try:
            token = state.redeem_code(params.get("code", ""))
        except GraphFault as exc:
            return jsonify({"error_type": "OAuthException", "code": 400, "error_message": exc.message}), 400
        return jsonify({"data": [{"access_token": token.value, "user_id": token.ig_user_id, "permissions": SCOPES}]})
    token = state.authenticate(params.get("access_token"))
    fresh = state.long_lived(token) if route == "access_token" else state.refreshed(token)
    return jsonify({"access_token": fresh.value, "token_type": "bearer", "expires_in": LONG_LIVED_S})


OAUTH_ROUTES = {"oauth/authorize", "oauth/access_token", "access_token", "refresh_access_token"}


def _serve(state: SandboxState, path: str) -> Any:
    route = VERSION.sub("", path.strip("/")).strip("/")
    params = _params()
    endpoint = endpoint_name(request.method, route, state)
    state.record({"method": request.method, "path": "/" + path, "endpoint": endpoint,
                  "params": {k: v for k, v in params.items() if k != "access_token"}, "at": state.now()})
    slow = state.take_fault(endpoint, {"slow"})
    try:
        fault = state.take_fault(endpoint, INJECTED)
        if fault:
            raise _fault_error(fault)
        result = _oauth(state, route, params) if route in OAUTH_ROUTES else jsonify(
            graph_call(state, request.method, route, params))
    except GraphFault as exc:
        result = _error_response(exc)
    if slow:
        time.sleep(slow.delay_s)
    return result


control = Blueprint("sandbox_control", __name__, url_prefix="/_sandbox")


def _state() -> SandboxState:
    state: SandboxState = current_app.extensions["instagram_sandbox"]
    return state


def _body() -> dict[str, Any]:
    return dict(request.get_json(silent=True) or {})


@control.route("/requests", methods=["GET", "DELETE"])
def requests_log() -> Any:
    if request.method == "DELETE":
        _state().requests.clear()
    return jsonify({"data": _state().requests})


@control.post("/config")
def config() -> Any:
    _state().configure(**_body())
    return jsonify(_state().snapshot()["config"])


@control.post("/faults")
def faults() -> Any:
    return jsonify(vars(_state().add_fault(**_body()))), 201


@control.post("/clock")
def clock() -> Any:
    seconds = float(_body().get("advance_s", 0))
    _state().advance(seconds)
    return jsonify({"advanced_s": seconds})


@control.post("/tokens")
def tokens() -> Any:
    body = _body()
    revoked = bool(body.pop("revoked", False))
    token = _state().add_token(body.pop("token"), **body)
    token.revoked = revoked
    return jsonify(vars(token)), 201


@control.post("/pages")
def pages() -> Any:
    body = _body()
    page = _state().add_page(body["id"], body.get("name", "Sandbox Page"), body["token"], body.get("ig_user_id"))
    return jsonify(vars(page)), 201


@control.get("/state")
def snapshot() -> Any:
    return jsonify(_state().snapshot())


def create_app(state: SandboxState | None = None, config: SandboxConfig | None = None) -> Flask:
    """A new sandbox app around ``state`` (or a fresh one built from ``config``)."""
    state = state or SandboxState(config)
    app = Flask("markaestro_instagram_sandbox")
    app.extensions["instagram_sandbox"] = state
    app.register_blueprint(control)

    @app.route("/", defaults={"path": ""}, methods=["GET", "POST"])
    @app.route("/<path:path>", methods=["GET", "POST"])
    def graph(path: str) -> Any:
        return _serve(state, path)

    return app
