"""Domain errors and their one mapping to RFC 9457 problem+json responses.

Services raise :class:`CoreError` subclasses; :func:`register_error_handlers`
turns them, werkzeug's HTTP errors, flask-smorest's aborts and anything
unexpected into ``application/problem+json`` with a stable ``code``. No stack
trace, SQL, path or host name ever reaches a client.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from flask import Flask, Response, g, request
from limits.errors import StorageError
from redis.exceptions import RedisError
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException

PROBLEM_TYPE_BASE = "https://markaestro.dev/problems/"
PROBLEM_CONTENT_TYPE = "application/problem+json"
log = logging.getLogger(__name__)

ErrorMap = Mapping[str, Sequence[str]]


class CoreError(Exception):
    """A request cannot be served as asked; ``detail`` is shown to the client."""

    status = 400
    code = "bad_request"
    title = "Bad request"

    def __init__(
        self, detail: str, *, errors: ErrorMap | None = None, headers: Mapping[str, str] | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors
        self.headers = dict(headers or {})
        if code:
            self.code = code


class BadRequest(CoreError):
    """Malformed input (JSON, headers, query values)."""


class Unauthorized(CoreError):
    status, code, title = 401, "unauthorized", "Unauthorized"


class NotFound(CoreError):
    status, code, title = 404, "not_found", "Not found"


class Conflict(CoreError):
    status, code, title = 409, "conflict", "Conflict"


class PayloadTooLarge(CoreError):
    status, code, title = 413, "payload_too_large", "Payload too large"


class UnsupportedMediaType(CoreError):
    status, code, title = 415, "unsupported_media_type", "Unsupported media type"


class ValidationFailed(CoreError):
    status, code, title = 422, "validation_failed", "Validation failed"


class Unprocessable(CoreError):
    """Well-formed but not processable, with a more specific ``code``."""

    status, code, title = 422, "unprocessable", "Unprocessable request"


class ServiceUnavailable(CoreError):
    status, code, title = 503, "service_unavailable", "Service unavailable"


HTTP_CODES = {
    400: ("bad_request", "Bad request"),
    401: ("unauthorized", "Unauthorized"),
    403: ("forbidden", "Forbidden"),
    404: ("not_found", "Not found"),
    405: ("method_not_allowed", "Method not allowed"),
    406: ("not_acceptable", "Not acceptable"),
    409: ("conflict", "Conflict"),
    411: ("length_required", "Length required"),
    413: ("payload_too_large", "Payload too large"),
    415: ("unsupported_media_type", "Unsupported media type"),
    416: ("range_not_satisfiable", "Range not satisfiable"),
    422: ("validation_failed", "Validation failed"),
    429: ("rate_limited", "Too many requests"),
    500: ("internal_error", "Internal server error"),
    503: ("service_unavailable", "Service unavailable"),
}


def problem_response(
    status: int, code: str, detail: str, *, title: str | None = None,
    errors: ErrorMap | None = None, headers: Mapping[str, str] | None = None,
) -> Response:
    """The problem+json response every error path ends in."""
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + code.replace("_", "-"),
        "title": title or HTTP_CODES.get(status, (code, "Error"))[1],
        "status": status,
        "detail": detail,
        "code": code,
    }
    if errors:
        body["errors"] = {field: list(messages) for field, messages in errors.items()}
    body["requestId"] = getattr(g, "request_id", None)
    response = Response(json.dumps(body), status=status, content_type=PROBLEM_CONTENT_TYPE)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    if status == 401:
        response.headers.setdefault("WWW-Authenticate", 'Bearer realm="markaestro"')
    return response


def _from_core_error(error: CoreError) -> Response:
    return problem_response(error.status, error.code, error.detail, title=error.title,
                            errors=error.errors, headers=error.headers)


def _from_http_exception(error: HTTPException) -> Response:
    status = error.code or 500
    code, title = HTTP_CODES.get(status, ("http_error", error.name))
    data = getattr(error, "data", None) or {}
    messages = data.get("messages") or data.get("errors")
    errors = _smorest_errors(messages)
    detail = data.get("message") or _default_detail(status, error)
    if status == 400 and isinstance(messages, dict) and "json" in messages:
        code, detail, errors = "malformed_json", "The request body is not valid JSON.", None
    elif errors and status == 422 and isinstance(messages, dict) and set(messages) == {"query"}:
        status, code, title = 400, "invalid_query", "Bad request"
        detail = _summary(errors)
    elif errors and status == 422:
        detail = _summary(errors)
    headers = {k: v for k, v in (error.get_headers() if status in (405, 416) else []) if k != "Content-Type"}
    headers.update(data.get("headers") or {})
    return problem_response(status, code, detail, title=title, errors=errors, headers=headers)


def _default_detail(status: int, error: HTTPException) -> str:
    if status == 404:
        return f"No route or resource at {request.path}"
    if status == 405:
        return f"{request.method} is not allowed on {request.path}"
    return str(error.description or error.name)


def _smorest_errors(messages: Any) -> dict[str, list[str]] | None:
    """Flatten webargs' ``{"json": {"field": [...]}}`` into ``{"field": [...]}``."""
    if not isinstance(messages, dict):
        return None
    flat: dict[str, list[str]] = {}
    for location, fields in messages.items():
        if isinstance(fields, dict):
            _flatten_into(flat, fields, "")
        else:
            flat[location] = [str(m) for m in (fields if isinstance(fields, list) else [fields])]
    return flat or None


def _flatten_into(flat: dict[str, list[str]], value: Any, prefix: str) -> None:
    if isinstance(value, dict):
        for key, inner in value.items():
            _flatten_into(flat, inner, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(value, list) and all(isinstance(m, str) for m in value):
        flat.setdefault(prefix or "body", []).extend(value)
    else:
        flat.setdefault(prefix or "body", []).append(str(value))


def _summary(errors: ErrorMap) -> str:
    field, messages = next(iter(errors.items()))
    first = f"{field}: {messages[0]}" if messages else field
    more = sum(len(m) for m in errors.values()) - 1
    return first + (f" (and {more} more)" if more > 0 else "")


def _unavailable(error: Exception) -> Response:
    log.warning("dependency unavailable: %s", type(error).__name__)
    return problem_response(503, "service_unavailable",
                            "A backing service (database or Redis) is unavailable; retry shortly.",
                            headers={"Retry-After": "5"})


def _unexpected(error: Exception) -> Response:
    if isinstance(error, HTTPException):
        return _from_http_exception(error)
    log.exception("unhandled error")
    return problem_response(500, "internal_error", "An unexpected error occurred; it has been logged.")


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(CoreError, _from_core_error)
    app.register_error_handler(HTTPException, _from_http_exception)
    app.register_error_handler(OperationalError, _unavailable)
    app.register_error_handler(RedisError, _unavailable)
    app.register_error_handler(StorageError, _unavailable)  # flask-limiter's storage, when it wraps
    app.register_error_handler(PoolTimeout, _unavailable)
    app.register_error_handler(DBAPIError, _db_error)
    app.register_error_handler(Exception, _unexpected)


def _db_error(error: DBAPIError) -> Response:
    if error.connection_invalidated:
        return _unavailable(error)
    return _unexpected(error)


def validation_failed(errors: Mapping[str, Sequence[str]]) -> ValidationFailed:
    """A 422 whose detail summarises the first of ``errors``."""
    return ValidationFailed(_summary(errors), errors=errors)
