"""Project flavours of flask-smorest's ``Api`` and ``Blueprint``, and the problem schema.

Every documented error is ``application/problem+json`` with :class:`ProblemSchema`.
"""

from __future__ import annotations

import http
from typing import Any

import marshmallow as ma
from apispec import BasePlugin
from flask_smorest import Api as BaseApi
from flask_smorest import Blueprint as BaseBlueprint
from flask_smorest.utils import prepare_response

from .config import API_PREFIX
from .errors import PROBLEM_CONTENT_TYPE, _from_http_exception


class ProblemSchema(ma.Schema):
    """An RFC 9457 problem document."""

    type = ma.fields.String(required=True, metadata={"example": "https://markaestro.dev/problems/not-found"})
    title = ma.fields.String(required=True)
    status = ma.fields.Integer(required=True)
    detail = ma.fields.String(required=True)
    code = ma.fields.String(required=True, metadata={"description": "stable snake_case error code"})
    errors = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.List(ma.fields.String()),
                            metadata={"description": "field → messages, on validation failures"})
    requestId = ma.fields.String(allow_none=True)


IDEMPOTENCY_KEY_PARAMETER = {
    "name": "Idempotency-Key", "in": "header", "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": 255},
    "description": "1–255 printable ASCII characters (bare, or an RFC 8941 quoted string), scoped to the "
                   "workspace and kept at least 24 hours. A retry with the same key, method, path and body "
                   "replays the stored response (`Idempotent-Replayed: true`); another body is 422 "
                   "`idempotency_key_reused`; while the first is in flight, 409 `idempotency_key_in_use`. "
                   "Responses with status ≥ 500 are not stored.",
}


REPLAYED_HEADER = {
    "description": "`true` on a stored response replayed for a retry with the same `Idempotency-Key`.",
    "schema": {"type": "string", "enum": ["true"]},
}


def _seconds_header(description: str) -> dict[str, Any]:
    return {"description": description, "schema": {"type": "integer", "minimum": 0}}


#: Headers of the errors any route can give (spec §1.1): the rate limit's, and when to come back.
ERROR_HEADERS: dict[int, dict[str, Any]] = {
    429: {
        "Retry-After": _seconds_header("Seconds until the rate-limit window resets."),
        "RateLimit-Policy": {"description": 'The key\'s quota and window, e.g. `"default";q=1200;w=60`.',
                             "schema": {"type": "string"}},
        "RateLimit": {"description": 'Requests left and seconds to the reset, e.g. `"default";r=0;t=42`.',
                      "schema": {"type": "string"}},
    },
    503: {"Retry-After": _seconds_header("Seconds after which to try again; nothing was half-written.")},
}


class IdempotencyDocPlugin(BasePlugin):
    """Documents ``Idempotency-Key``, its 400/409/422 answers and ``Idempotent-Replayed`` on every POST."""

    def operation_helper(self, path: str | None = None, operations: dict[str, Any] | None = None,
                         **kwargs: Any) -> None:
        operation = (operations or {}).get("post")
        if operation is None:
            return
        operation.setdefault("parameters", []).append(dict(IDEMPOTENCY_KEY_PARAMETER))
        responses = operation.setdefault("responses", {})
        for status in (400, 409, 422):
            responses.setdefault(str(status), http.HTTPStatus(status).name)
        for status, response in responses.items():
            if str(status).startswith("2") and isinstance(response, dict) and "$ref" not in response:
                response.setdefault("headers", {})["Idempotent-Replayed"] = dict(REPLAYED_HEADER)


class Api(BaseApi):
    """flask-smorest's Api speaking problem+json for every error."""

    ERROR_SCHEMA = ProblemSchema

    def _init_spec(self, **kwargs: Any) -> None:
        kwargs["extra_plugins"] = [*(kwargs.get("extra_plugins") or ()), IdempotencyDocPlugin()]
        super()._init_spec(**kwargs)

    def handle_http_exception(self, error: Any) -> Any:
        return _from_http_exception(error)

    def _register_responses(self) -> None:
        for status in http.HTTPStatus:
            response: dict[str, Any] = {"description": status.phrase}
            if status >= 400:
                response["schema"] = self.ERROR_SCHEMA
                prepare_response(response, self.spec, PROBLEM_CONTENT_TYPE)
            if status in ERROR_HEADERS:
                response["headers"] = ERROR_HEADERS[status]
            self.spec.components.response(status.name, response, lazy=True)
        default = {"description": "Default error response", "schema": self.ERROR_SCHEMA}
        prepare_response(default, self.spec, PROBLEM_CONTENT_TYPE)
        self.spec.components.response("DEFAULT_ERROR", default, lazy=True)


class Blueprint(BaseBlueprint):
    """A blueprint mounted under the public API prefix, documenting common errors."""

    def __init__(self, name: str, import_name: str, url_prefix: str, **kwargs: Any) -> None:
        super().__init__(name, import_name, url_prefix=API_PREFIX + url_prefix, **kwargs)

    def errors(self, *statuses: int) -> Any:
        """Document ``statuses`` (plus 401, 429 and 503, which any route can give)."""

        def decorator(func: Any) -> Any:
            for status in sorted({*statuses, 401, 429, 503}):
                func = self.alt_response(status, response=http.HTTPStatus(status).name)(func)
            return func

        return decorator


API_SETTINGS = {
    "API_TITLE": "Markaestro public API",
    "API_VERSION": "v1",
    "OPENAPI_VERSION": "3.0.3",
    "OPENAPI_URL_PREFIX": API_PREFIX,
    "OPENAPI_JSON_PATH": "openapi.json",
    "OPENAPI_SWAGGER_UI_PATH": "docs",
    "OPENAPI_SWAGGER_UI_URL": "https://cdn.jsdelivr.net/npm/swagger-ui-dist/",
    "API_SPEC_OPTIONS": {
        "info": {"description": "Publish images and videos to Facebook Pages, Instagram, LinkedIn and TikTok. "
                                "Idempotency keys are kept for at least 24 hours."},
        "components": {"securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}}},
        "security": [{"bearerAuth": []}],
    },
}
