"""Per-API-key rate limiting stored in Redis (spec §1.1 429, §6 ``MARKAESTRO_RATE_LIMIT``).

* One budget per caller across all API routes: the API key's id once the
  key is identified, else the client address (so a stream of bad keys is
  throttled too). Workspace B is never slowed by workspace A's burst.
* Counters live in Redis at ``MARKAESTRO_REDIS_URL`` (flask-limiter, fixed
  window). ``MARKAESTRO_RATE_LIMIT=off`` installs nothing.
* Exempt: the OpenAPI document and docs, and everything outside the API
  prefix (hosted media is fetched by the platforms).
* Over the budget: ``429`` problem+json, ``code: rate_limited``, with
  ``Retry-After`` (seconds until the window resets). The limiter runs before
  the idempotency layer, so a throttled POST consumes no ``Idempotency-Key``.
* Headers: the IETF draft's structured fields (draft-ietf-httpapi-ratelimit-headers
  -07 and later), on every limited response::

      RateLimit-Policy: "default";q=1200;w=60
      RateLimit: "default";r=1187;t=42

  ``q`` quota, ``w`` window seconds, ``r`` remaining, ``t`` seconds to reset.
  (The older ``RateLimit-Limit/-Remaining/-Reset`` trio is not sent.)
* Redis unavailable: the storage error propagates and becomes ``503`` with
  ``Retry-After`` (see :mod:`core.errors`); requests are not let through unmetered.
"""

from __future__ import annotations

import math
import time

from flask import Flask, Response, current_app, g, request
from flask_limiter import Limiter, RateLimitExceeded, RequestLimit
from redis.exceptions import RedisError

from .auth import PUBLIC_PATHS
from .config import API_PREFIX, rate_limit
from .errors import problem_response

POLICY_NAME = "default"
KEY_PREFIX = "markaestro:ratelimit"
EXTENSION = "markaestro.limiter"
STORAGE_OPTIONS = {"socket_connect_timeout": 2, "socket_timeout": 2}


def caller_key() -> str:
    """The budget this request counts against: its API key, else its client address."""
    key_id = g.get("api_key_id")
    if key_id:
        return f"key:{key_id}"
    return f"addr:{request.remote_addr or 'unknown'}"


def exempt() -> bool:
    """Requests outside the API, and the OpenAPI document and docs, are not limited."""
    path = request.path
    return not path.startswith(API_PREFIX + "/") or path.startswith(PUBLIC_PATHS)


def _limiter() -> Limiter | None:
    limiter: Limiter | None = current_app.extensions.get(EXTENSION)
    return limiter


def _seconds_to_reset(limit: RequestLimit) -> int:
    """Whole seconds until the window resets (``reset_at`` is rounded up to a second)."""
    return min(limit.limit.get_expiry(), max(1, math.ceil(limit.reset_at - time.time())))


def _headers(limit: RequestLimit) -> dict[str, str]:
    window = limit.limit.get_expiry()
    return {
        "RateLimit-Policy": f'"{POLICY_NAME}";q={limit.limit.amount};w={window}',
        "RateLimit": f'"{POLICY_NAME}";r={limit.remaining};t={_seconds_to_reset(limit)}',
    }


def add_headers(response: Response) -> Response:
    """After-request hook: the ``RateLimit`` / ``RateLimit-Policy`` fields of a limited request."""
    limiter = _limiter()
    limit = limiter.current_limit if limiter is not None else None
    if limit is None:
        return response
    try:
        response.headers.update(_headers(limit))
    except RedisError:  # the response is more useful than the headers
        current_app.logger.warning("rate-limit headers skipped: Redis unavailable")
    return response


def too_many_requests(_error: RateLimitExceeded) -> Response:
    """``429`` problem+json with ``Retry-After`` (and the rate-limit fields)."""
    limiter = _limiter()
    limit = limiter.current_limit if limiter is not None else None
    retry_after = _seconds_to_reset(limit) if limit is not None else 1
    quota = f" of {limit.limit}" if limit is not None else ""
    return problem_response(429, "rate_limited",
                            f"Rate limit{quota} exceeded for this API key; retry in {retry_after} s.",
                            headers={"Retry-After": str(retry_after)})


def init_app(app: Flask) -> None:
    """Install the limiter (after the caller is identified, before it is required)."""
    limit = rate_limit(app.config["MARKAESTRO_RATE_LIMIT"])
    app.register_error_handler(RateLimitExceeded, too_many_requests)
    if limit is None:
        return
    limiter = Limiter(
        key_func=caller_key, application_limits=[limit], storage_uri=app.config["MARKAESTRO_REDIS_URL"],
        storage_options=dict(STORAGE_OPTIONS), strategy="fixed-window", key_prefix=KEY_PREFIX,
        headers_enabled=False, swallow_errors=False,
    )
    limiter.request_filter(exempt)
    limiter.init_app(app)
    app.extensions[EXTENSION] = limiter
    app.after_request(add_headers)
