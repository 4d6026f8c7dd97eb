"""The fake platform: a small WSGI sandbox the ``fake`` channel publishes to.

It counts every creating call per idempotency token, so tests can prove
that a post was created exactly once per target, and it can be told to
misbehave through ``POST /_control`` (JSON, every key optional):

- ``processing_s``: a created post stays ``processing`` this long before
  it is ``published`` (the channel polls meanwhile);
- ``create_delay_s``: the creating call records the post, then waits this
  long before answering (a window in which to kill a worker mid-call, or
  a slow platform; ``peak_waiting`` counts the calls waiting at once);
- ``create_delays``: a list of seconds, one taken per creating call in
  order of arrival, waited instead of ``create_delay_s`` (one slow call
  among quick ones);
- ``transient_failures``: the next N creating calls answer ``503`` with
  ``Retry-After`` (nothing is created);
- ``permanent``: creating calls answer ``400`` with a platform error;
- ``ambiguous``: creating calls create the post, then answer ``504`` (the
  caller cannot know whether it went through);
- ``expired_tokens``: access tokens answered with ``401 token_expired``;
- ``rate_limited``: the next N creating calls answer ``429`` with
  ``Retry-After: retry_after_s`` (nothing is created);
- ``lookup_blind``: the token lookup answers ``{"searchable": false}`` (the
  platform cannot tell whether a post exists).

A creating call with ``"inbox": true`` makes an inbox draft (like TikTok's
inbox handoff): once processed it stays ``in_inbox`` until the creator acts
through ``POST /_creator/<id>`` with ``{"action": "publish"}`` (it becomes
``published`` with a public id ``pub_<n>``) or ``{"action": "delete"}``
(it becomes ``deleted``).

Routes: ``POST /posts`` (creating), ``GET /posts/<id>``,
``GET /posts?token=`` (lookup for reconciliation), ``POST /oauth/refresh``,
``GET /_stats`` (``{"created": {token: n}, "calls": n}``), ``POST /_reset``.
"""

from __future__ import annotations

import copy
import itertools
import json
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from werkzeug.wrappers import Request, Response

_BEHAVIOUR = {"processing_s": 0.0, "create_delay_s": 0.0, "transient_failures": 0, "permanent": False,
              "ambiguous": False, "expired_tokens": [], "rate_limited": 0, "retry_after_s": 1.0,
              "lookup_blind": False, "create_delays": []}


@dataclass
class FakePlatformState:
    """Everything the fake platform remembers; shared by its threads."""

    behaviour: dict[str, Any] = field(default_factory=lambda: copy.deepcopy(_BEHAVIOUR))
    posts: dict[str, dict[str, Any]] = field(default_factory=dict)
    created: dict[str, int] = field(default_factory=dict)
    calls: int = 0
    waiting: int = 0  #: creating calls waiting ``create_delay_s`` right now
    peak_waiting: int = 0  #: the most creating calls ever waiting at once (callers working side by side)
    #: every creating call: (monotonic time, HTTP status answered)
    attempts: list[tuple[float, int]] = field(default_factory=list)
    refreshes: list[str] = field(default_factory=list)  #: refresh tokens exchanged, in order
    rejected_tokens: list[str] = field(default_factory=list)  #: access tokens answered with 401
    lock: threading.Lock = field(default_factory=threading.Lock)
    ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body), status=status, headers=headers, content_type="application/json")


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    return _json({"error": {"code": code, "message": message}}, status, headers)


class FakePlatform:
    """The WSGI application. ``state`` may be inspected directly in-process."""

    def __init__(self) -> None:
        self.state = FakePlatformState()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        response = self.dispatch(request)
        return response(environ, start_response)

    def dispatch(self, request: Request) -> Response:
        path, method = request.path.rstrip("/"), request.method
        if path == "/_control" and method == "POST":
            return self._control(request)
        if path == "/_reset" and method == "POST":
            self.state = FakePlatformState()
            return _json({"ok": True})
        if path == "/_stats":
            with self.state.lock:
                return _json({"created": dict(self.state.created), "calls": self.state.calls})
        if path == "/oauth/refresh" and method == "POST":
            return self._refresh(request)
        if path.startswith("/_creator/") and method == "POST":
            return self._creator(path.removeprefix("/_creator/"), request)
        denied = self._check_token(request)
        if denied is not None:
            return denied
        if path == "/posts" and method == "POST":
            return self._create(request)
        if path == "/posts" and method == "GET":
            return self._lookup(request.args.get("token", ""))
        if path.startswith("/posts/") and method == "GET":
            return self._read(path.removeprefix("/posts/"))
        return _error(404, "not_found", f"no route {method} {path}")

    def _control(self, request: Request) -> Response:
        body = request.get_json(force=True, silent=True) or {}
        unknown = set(body) - set(_BEHAVIOUR)
        if unknown:
            return _error(400, "unknown_setting", f"unknown settings {sorted(unknown)}")
        with self.state.lock:
            self.state.behaviour.update(body)
            return _json(self.state.behaviour)

    def _refresh(self, request: Request) -> Response:
        refresh_token = str((request.get_json(force=True, silent=True) or {}).get("refresh_token", ""))
        with self.state.lock:
            self.state.refreshes.append(refresh_token)
        return _json({"access_token": f"fresh-{refresh_token}", "expires_in": 3600})

    def _creator(self, post_id: str, request: Request) -> Response:
        """The creator acts on an inbox draft in the platform's app."""
        action = (request.get_json(force=True, silent=True) or {}).get("action")
        with self.state.lock:
            post = self.state.posts.get(post_id)
            if post is None or not post.get("inbox") or action not in ("publish", "delete"):
                return _error(400, "bad_creator_action", f"cannot {action!r} post {post_id}")
            post["creator"] = "published" if action == "publish" else "deleted"
            post["public_id"] = f"pub_{next(self.state.ids)}" if action == "publish" else None
            return _json(self._view(post))

    def _check_token(self, request: Request) -> Response | None:
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if token in self.state.behaviour["expired_tokens"]:
            self._rejected(token)
            return _error(401, "token_expired", "The access token has expired.")
        if token == "revoked":
            self._rejected(token)
            return _error(401, "token_revoked", "The user revoked access.")
        return None

    def _rejected(self, token: str) -> None:
        with self.state.lock:
            self.state.rejected_tokens.append(token)

    def _create(self, request: Request) -> Response:
        body = request.get_json(force=True, silent=True) or {}
        token = str(body.get("token", ""))
        behaviour = self.state.behaviour
        with self.state.lock:
            self.state.calls += 1
            refusal = self._refusal()
            self.state.attempts.append((time.monotonic(), refusal.status_code if refusal else 201))
            if refusal is not None:
                return refusal
            post = self._record(token, body, str(request.headers.get("Authorization", "")).removeprefix("Bearer "))
            delays = behaviour["create_delays"]
            delay = float(delays.pop(0) if delays else behaviour["create_delay_s"])
        if delay:
            self._slow_answer(delay)
        if behaviour["ambiguous"]:
            return _error(504, "gateway_timeout", "The upstream timed out.")
        return _json(self._view(post), 201)

    def _slow_answer(self, seconds: float) -> None:
        """Wait before answering a creating call, counting how many such calls wait side by side."""
        with self.state.lock:
            self.state.waiting += 1
            self.state.peak_waiting = max(self.state.peak_waiting, self.state.waiting)
        time.sleep(seconds)
        with self.state.lock:
            self.state.waiting -= 1

    def _refusal(self) -> Response | None:
        """The configured refusal of a creating call, if any (called under the lock)."""
        behaviour = self.state.behaviour
        if behaviour["rate_limited"] > 0:
            behaviour["rate_limited"] -= 1
            return _error(429, "rate_limited", "Too many posts; slow down.",
                          {"Retry-After": str(behaviour["retry_after_s"])})
        if behaviour["transient_failures"] > 0:
            behaviour["transient_failures"] -= 1
            return _error(503, "busy", "The platform is busy; try again.", {"Retry-After": "0"})
        if behaviour["permanent"]:
            return _error(400, "CONTENT_REJECTED", "The platform refused this content: it breaks policy 7.")
        return None

    def _record(self, token: str, body: dict[str, Any], access_token: str) -> dict[str, Any]:
        post_id = f"fp_{next(self.state.ids)}"
        now = time.monotonic()
        post = {"id": post_id, "token": token, "caption": body.get("caption", ""), "created_at": now,
                "ready_at": now + float(self.state.behaviour["processing_s"]), "inbox": bool(body.get("inbox")),
                "access_token": access_token}
        self.state.posts[post_id] = post
        self.state.created[token] = self.state.created.get(token, 0) + 1
        return post

    def _view(self, post: dict[str, Any]) -> dict[str, Any]:
        status = self._status(post)
        public_id = post.get("public_id") or post["id"]
        return {"id": post["id"], "token": post["token"], "status": status,
                "publicId": post.get("public_id"),
                "url": f"https://fake.example/p/{public_id}" if status == "published" else None}

    @staticmethod
    def _status(post: dict[str, Any]) -> str:
        if time.monotonic() < post["ready_at"]:
            return "processing"
        if not post.get("inbox"):
            return "published"
        return str(post.get("creator") or "in_inbox")

    def _read(self, post_id: str) -> Response:
        post = self.state.posts.get(post_id)
        if post is None:
            return _error(404, "not_found", f"no post {post_id}")
        return _json(self._view(post))

    def _lookup(self, token: str) -> Response:
        if self.state.behaviour["lookup_blind"]:
            return _json({"data": [], "searchable": False})
        found = [self._view(p) for p in self.state.posts.values() if p["token"] == token]
        return _json({"data": found, "searchable": True})


def create_app() -> FakePlatform:
    """A fresh fake platform."""
    return FakePlatform()
