"""``X-Request-Id`` on every response: the client's (when well formed) or a new one."""

from __future__ import annotations

import re

from flask import Flask, Response, g, request

from .ids import random_token

HEADER = "X-Request-Id"
_VALID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")


def _assign() -> None:
    incoming = request.headers.get(HEADER, "")
    g.request_id = incoming if _VALID.match(incoming) else f"req_{random_token(24)}"


def _echo(response: Response) -> Response:
    response.headers[HEADER] = getattr(g, "request_id", None) or f"req_{random_token(24)}"
    return response


def init_app(app: Flask) -> None:
    app.before_request(_assign)
    app.after_request(_echo)
