"""Envelope, authentication and fault injection shared by the sandbox routes.

Answers follow TikTok's v2 envelope
``{"data": {...}, "error": {"code", "message", "log_id"}}`` [DOC
platforms.md §4.1]. Injectable faults (``SandboxState.inject``):

=================== ===========================================================
``server_error``    500 ``internal_error``
``unavailable``     503 with a non-JSON gateway page
``rate_limit``      429 ``rate_limit_exceeded``
``token_expired``   401 ``access_token_invalid``
``scope``           401 ``scope_not_authorized``
``pending_shares``  403 ``spam_risk_too_many_pending_share``
``slow:<seconds>``  handled normally, answered after ``<seconds>``
``error:<code>:<http>`` any other TikTok code
``none``            no fault (to fail a later call: ``none`` then the fault)
=================== ===========================================================
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

from flask import Response, current_app, g, jsonify, request

from .state import SandboxState, Token

MESSAGES = {
    "access_token_invalid": "The access token is invalid or not found in the request.",
    "scope_not_authorized": "The user did not authorize the scope required for completing this request.",
    "rate_limit_exceeded": "Your request is blocked due to exceeding the API rate limit.",
    "internal_error": "Something went wrong. Please try again later.",
    "spam_risk_too_many_pending_share": "The daily upload cap for this user has been reached.",
}
FAULTS = {
    "server_error": ("internal_error", 500),
    "rate_limit": ("rate_limit_exceeded", 429),
    "token_expired": ("access_token_invalid", 401),
    "scope": ("scope_not_authorized", 401),
    "pending_shares": ("spam_risk_too_many_pending_share", 403),
}


class ApiError(Exception):
    """Raised inside a route; rendered as a TikTok error envelope."""

    def __init__(self, code: str, status: int, message: str = "") -> None:
        super().__init__(code)
        self.code, self.status, self.message = code, status, message or MESSAGES.get(code, code)


def state() -> SandboxState:
    return current_app.extensions["tiktok_sandbox"]  # type: ignore[no-any-return]


def log_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%d%H%M%S") + secrets.token_hex(9).upper()


def ok(data: dict[str, Any], status: int = 200) -> Response:
    response = jsonify({"data": data, "error": {"code": "ok", "message": "", "log_id": log_id()}})
    response.status_code = status
    return response


def error_response(exc: ApiError) -> Response:
    response = jsonify({"data": {}, "error": {"code": exc.code, "message": exc.message, "log_id": log_id()}})
    response.status_code = exc.status
    return response


def authenticate(scope: str | None = None) -> Token:
    """The request's bearer token, or 401 ``access_token_invalid`` / ``scope_not_authorized``."""
    header = request.headers.get("Authorization", "")
    value = header[7:].strip() if header.startswith("Bearer ") else ""
    token = state().token(value)
    if token is None:
        raise ApiError("access_token_invalid", 401)
    if scope and scope not in token.scopes:
        raise ApiError("scope_not_authorized", 401)
    return token


def apply_fault(endpoint: str) -> Response | None:
    """Take the next injected fault of ``endpoint``: an answer to send, or ``None``."""
    fault = state().take_fault(endpoint)
    if fault is None or fault == "none":
        return None
    if fault.startswith("slow:"):
        g.sandbox_delay_s = float(fault.split(":", 1)[1])
        return None
    if fault == "unavailable":
        return Response("<html><body>503 Service Temporarily Unavailable</body></html>", 503,
                        content_type="text/html")
    if fault.startswith("error:"):
        _, code, http = fault.split(":")
        return error_response(ApiError(code, int(http)))
    code, status = FAULTS[fault]
    return error_response(ApiError(code, status))


def json_body() -> dict[str, Any]:
    """The JSON object body, or 400 ``invalid_param``."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ApiError("invalid_param", 400, "The request body must be a JSON object.")
    return body


def rate(token: Token, bucket: str, limit: int) -> None:
    """429 ``rate_limit_exceeded`` when the token's per-minute budget is spent."""
    if not state().take_rate(token.value, bucket, limit):
        raise ApiError("rate_limit_exceeded", 429)
