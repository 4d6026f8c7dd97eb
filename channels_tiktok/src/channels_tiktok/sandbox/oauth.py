"""The sandbox's OAuth endpoints (platforms.md §4.2).

``GET /v2/auth/authorize/`` consents at once for a sandbox creator and
redirects to ``redirect_uri`` with ``code``, ``scopes`` and ``state``.
``POST /v2/oauth/token/`` (form encoded) serves ``authorization_code`` and
``refresh_token`` grants: 24 h access tokens, 365 day refresh tokens that
rotate (a spent refresh token is ``invalid_grant``). Errors use TikTok's
OAuth shape ``{"error", "error_description", "log_id"}``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, jsonify, redirect, request

from .common import apply_fault, log_id, state

bp = Blueprint("tiktok_oauth", __name__)


def _oauth_error(error: str, description: str, status: int = 400) -> Response:
    response = jsonify({"error": error, "error_description": description, "log_id": log_id()})
    response.status_code = status
    return response


@bp.get("/v2/auth/authorize/")
def authorize() -> Response:
    args = request.args
    wanted_key = state().config.client_key
    if args.get("response_type") != "code" or not args.get("redirect_uri") or not args.get("client_key"):
        return Response("invalid_request: client_key, response_type=code and redirect_uri are required", 400)
    if wanted_key and args["client_key"] != wanted_key:
        return Response("invalid_client: unknown client_key", 400)
    scopes = tuple(s for s in args.get("scope", "").split(",") if s)
    code = state().issue_code(args.get("open_id"), scopes, args["redirect_uri"])
    query = urlencode({"code": code, "scopes": ",".join(scopes), "state": args.get("state", "")})
    separator = "&" if "?" in args["redirect_uri"] else "?"
    return redirect(f"{args['redirect_uri']}{separator}{query}", 302)  # type: ignore[return-value]


@bp.post("/v2/oauth/token/")
def token() -> Response:
    fault = apply_fault("token")
    if fault is not None:
        return fault
    form = request.form
    problem = _client_problem(form)
    if problem:
        return _oauth_error("invalid_client", problem, 401)
    grant = form.get("grant_type")
    if grant == "authorization_code":
        issued = state().redeem_code(form.get("code", ""), form.get("redirect_uri", ""))
    elif grant == "refresh_token":
        issued = state().rotate_refresh(form.get("refresh_token", ""))
    else:
        return _oauth_error("unsupported_grant_type", f"grant_type {grant!r} is not supported")
    if issued is None:
        return _oauth_error("invalid_grant", "Authorization code or refresh token is expired or invalid.")
    return jsonify(issued)


def _client_problem(form: Any) -> str:
    key, secret = form.get("client_key", ""), form.get("client_secret", "")
    if not key or not secret:
        return "client_key and client_secret are required"
    config = state().config
    if config.client_key and (key != config.client_key or secret != config.client_secret):
        return "client_key or client_secret is wrong"
    return ""
