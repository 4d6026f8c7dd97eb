"""The whole system over HTTP, as an API client sees it.

Per test: the real app (installed channel plugins loaded from their entry
points) served by werkzeug on 127.0.0.1, so platform sandboxes can fetch the
hosted media URLs (``MARKAESTRO_PUBLIC_URL`` is that server); every installed
plugin's sandbox (from ``register_sandboxes``) served on a port of its own
with its ``settings_env`` variables pointing at it and processing delays set
to zero; destinations connected through :mod:`core.services.destinations`
with sandbox tokens; and ``python -m core.worker`` (RQ worker with its
scheduler and the sweeper) in a subprocess whose process group is killed at
teardown. Runs on SQLite and PostgreSQL through the fixtures of
``tests/conftest.py``.

The only change to production behaviour is the poll cadence: see
:mod:`tests.e2e.cadence`.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
from flask import Flask
from werkzeug.serving import BaseWSGIServer, make_server

from core import create_app
from core.channels import build_channels
from core.db import session_scope
from core.ids import new_id
from core.services import destinations
from plugins.types import Sandbox
from tests.conftest import Tenant
from tests.pipeline_kit import ROOT, Workers

API = "/api/public/v1"
RUN_DEADLINE_S = 30.0
IG_USER = "17841400000000001"  #: the Instagram sandbox's default account
#: the app credentials the plugins use for OAuth and token refresh (the TikTok sandbox checks them)
CLIENT_SETTINGS = {"MARKAESTRO_TIKTOK_CLIENT_ID": "e2e_client_key", "MARKAESTRO_TIKTOK_CLIENT_SECRET": "e2e_secret",
                   "MARKAESTRO_INSTAGRAM_CLIENT_ID": "990001", "MARKAESTRO_INSTAGRAM_CLIENT_SECRET": "e2e_secret"}


# --------------------------------------------------------------------------- HTTP servers


class Served:
    """A WSGI app on a free 127.0.0.1 port, served in a background thread."""

    def __init__(self, app: Any) -> None:
        self.server: BaseWSGIServer = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.thread.join(5)
        self.server.server_close()


@dataclass
class Hit:
    """One request the live app answered."""

    method: str
    path: str
    status: int
    content_type: str


class LiveApp:
    """The app's WSGI entry, bound before the app exists (its URL is part of its config).

    Records every request with the status and ``Content-Type`` answered, so a
    test can see what a platform sandbox fetched from the hosting routes.
    """

    def __init__(self) -> None:
        self.app: Flask | None = None
        self.hits: list[Hit] = []
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        assert self.app is not None, "the live app is not mounted"

        def recording(status: str, headers: list[tuple[str, str]], *args: Any) -> Any:
            content_type = next((v for k, v in headers if k.lower() == "content-type"), "")
            with self.lock:
                self.hits.append(Hit(environ["REQUEST_METHOD"], environ.get("PATH_INFO", ""),
                                     int(status.split()[0]), content_type))
            return start_response(status, headers, *args)

        return self.app(environ, recording)

    def media_hits(self) -> list[Hit]:
        with self.lock:
            return [h for h in self.hits if h.path.startswith("/media/")]


@pytest.fixture
def live() -> Iterator[tuple[LiveApp, Served]]:
    entry = LiveApp()
    served = Served(entry)
    yield entry, served
    served.close()


# --------------------------------------------------------------------------- sandboxes


@dataclass
class Sandboxes:
    """Each installed plugin's sandbox, served, by sandbox name."""

    served: dict[str, Served] = field(default_factory=dict)
    sandboxes: dict[str, Sandbox] = field(default_factory=dict)

    def url(self, name: str) -> str:
        return self.served[name].url

    def settings(self) -> dict[str, str]:
        """``MARKAESTRO_*`` variable → the URL of the sandbox it must point at."""
        return {env: self.served[name].url for name, box in self.sandboxes.items() for env in box.settings_env}


def _without_delays(box: Sandbox) -> None:
    """Processing delays near zero: the run waits on polls, not on the sandbox clock."""
    if box.name == "tiktok":
        from channels_tiktok.sandbox import sandbox_state

        config = sandbox_state(box.app).config  # type: ignore[arg-type]
        config.processing_delay_s = 0.0
        config.client_key, config.client_secret = CLIENT_SETTINGS["MARKAESTRO_TIKTOK_CLIENT_ID"], \
            CLIENT_SETTINGS["MARKAESTRO_TIKTOK_CLIENT_SECRET"]
    elif box.name == "instagram":
        box.app.extensions["instagram_sandbox"].configure(  # type: ignore[attr-defined]
            image_processing_s=0.0, video_processing_s=0.0, carousel_processing_s=0.0, fetch_timeout_s=5.0)


@pytest.fixture
def sandboxes() -> Iterator[Sandboxes]:
    boxes = Sandboxes()
    for box in build_channels({"MARKAESTRO_LOAD_PLUGINS": True}).sandboxes():
        _without_delays(box)
        boxes.sandboxes[box.name] = box
        boxes.served[box.name] = Served(box.app)
    missing = {"tiktok", "instagram"} - set(boxes.served)
    assert not missing, f"channel plugins not installed: {sorted(missing)}"
    yield boxes
    for served in boxes.served.values():
        served.close()


@dataclass
class TikTok:
    """The TikTok sandbox: its state and request log."""

    url: str
    state: Any

    def calls(self, *, skip_status: bool = False) -> list[str]:
        """``"METHOD path status code"`` of every API call answered, in order."""
        return [c for c in self.state.calls() if not (skip_status and "/status/fetch/" in c)]

    def bodies(self, path: str) -> list[Any]:
        with self.state.lock:
            return [entry.body for entry in self.state.log if entry.path == path]


@dataclass
class Instagram:
    """The Instagram sandbox: its state and request log."""

    url: str
    state: Any

    def endpoints(self) -> list[str]:
        return [endpoint for endpoint, _params in self.state.calls()]

    def params(self, endpoint: str) -> list[dict[str, Any]]:
        return [params for name, params in self.state.calls() if name == endpoint]

    def fault(self, **spec: Any) -> None:
        requests.post(f"{self.url}/_sandbox/faults", json=spec, timeout=5).raise_for_status()


@pytest.fixture
def tiktok(sandboxes: Sandboxes) -> TikTok:
    from channels_tiktok.sandbox import sandbox_state

    return TikTok(sandboxes.url("tiktok"), sandbox_state(sandboxes.sandboxes["tiktok"].app))  # type: ignore[arg-type]


@pytest.fixture
def instagram(sandboxes: Sandboxes) -> Instagram:
    app = sandboxes.sandboxes["instagram"].app
    return Instagram(sandboxes.url("instagram"), app.extensions["instagram_sandbox"])  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- the app and the worker


@pytest.fixture
def app_config(app_config: dict[str, Any], live: tuple[LiveApp, Served], sandboxes: Sandboxes) -> dict[str, Any]:
    """Installed plugins, sandbox URLs, the live server as public URL, short pipeline timings."""
    return {
        **app_config,
        **sandboxes.settings(),
        **CLIENT_SETTINGS,
        "MARKAESTRO_LOAD_PLUGINS": True,
        "MARKAESTRO_EXTRA_PLUGINS": "tests.e2e.cadence",
        "MARKAESTRO_PUBLIC_URL": live[1].url,
        "MARKAESTRO_TIKTOK_TIMEOUT_SECONDS": "10",
        "MARKAESTRO_INSTAGRAM_TIMEOUT_SECONDS": "10",
        "MARKAESTRO_LEASE_SECONDS": "10",
        "MARKAESTRO_SWEEP_INTERVAL_SECONDS": "0.5",
        "MARKAESTRO_RETRY_BASE_SECONDS": "0.1",
        "MARKAESTRO_QUEUE_NAME": f"e2e-{new_id('run')}",
    }


@pytest.fixture
def app(app_config: dict[str, Any], live: tuple[LiveApp, Served]) -> Iterator[Flask]:
    """The real app (no test plugins besides the cadence wrapper), mounted on the live server."""
    application = create_app(app_config)
    live[0].app = application
    yield application
    live[0].app = None
    application.extensions["markaestro.engine"].dispose()


@pytest.fixture
def worker(app_config: dict[str, Any]) -> Iterator[Workers]:
    """One ``python -m core.worker`` process (RQ worker, scheduler, sweeper), started now."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MARKAESTRO_")}
    env.update({k: str(v) for k, v in app_config.items() if k.startswith("MARKAESTRO_")})
    env["PYTHONPATH"] = str(ROOT)
    kit = Workers(env)
    kit.start()
    yield kit
    kit.stop_all()


# --------------------------------------------------------------------------- the API client


class Client:
    """An API client over real HTTP: the live server's URL, the tenant's key."""

    def __init__(self, base_url: str, tenant: Tenant) -> None:
        self.base = base_url + API
        self.http = requests.Session()
        self.http.headers.update(tenant.headers)
        self.tenant = tenant

    def post(self, path: str, body: Any = None, **headers: str) -> requests.Response:
        return self.http.post(self.base + path, json=body, headers=headers, timeout=15)

    def get(self, path: str) -> dict[str, Any]:
        response = self.http.get(self.base + path, timeout=15)
        assert response.status_code == 200, response.text
        return dict(response.json())

    def upload(self, data: bytes, filename: str, content_type: str = "application/octet-stream") -> dict[str, Any]:
        """``POST /media`` (multipart, one ``file`` part); the created asset."""
        response = self.http.post(self.base + "/media", files={"file": (filename, data, content_type)}, timeout=15)
        assert response.status_code == 201, response.text
        return dict(response.json())

    def create_post(self, channel: str, media: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
        body = {"channel": channel, "productId": self.tenant.product_id,
                "mediaAssetIds": [m["id"] for m in media], **fields}
        response = self.post("/posts", body)
        assert response.status_code == 201, response.text
        return dict(response.json())

    def publish(self, post_id: str, **headers: str) -> dict[str, Any]:
        response = self.post(f"/posts/{post_id}/publish", **headers)
        assert response.status_code == 202, response.text
        return dict(response.json())

    def publish_to_the_end(self, post_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """Publish the post; the finished run and the post as the API then shows them."""
        queued = self.publish(post_id)
        assert queued["status"] == "queued" and queued["postId"] == post_id, queued
        return self.wait_for_run(queued["id"]), self.get(f"/posts/{post_id}")

    def wait_for_run(self, run_id: str, deadline_s: float = RUN_DEADLINE_S) -> dict[str, Any]:
        """``GET /job-runs/{id}`` until it is ``succeeded`` or ``failed`` (bounded)."""
        return self.wait_for(f"/job-runs/{run_id}", lambda run: run["status"] in ("succeeded", "failed"),
                             deadline_s)

    def wait_for(self, path: str, done: Callable[[dict[str, Any]], bool],
                 deadline_s: float = RUN_DEADLINE_S) -> dict[str, Any]:
        """``GET path`` until ``done(document)``; fail with the last document after ``deadline_s``."""
        deadline = time.monotonic() + deadline_s
        while True:
            document = self.get(path)
            if done(document):
                return document
            if time.monotonic() > deadline:
                raise AssertionError(f"gave up waiting on {path}: {document}")
            time.sleep(0.1)


@pytest.fixture
def api(app: Flask, live: tuple[LiveApp, Served], tenant: Tenant) -> Iterator[Client]:
    client = Client(live[1].url, tenant)
    yield client
    client.http.close()


# --------------------------------------------------------------------------- destinations


def connect(app: Flask, tenant: Tenant, channel: str, provider: str, account_id: str, access_token: str,
            refresh_token: str | None = None, name: str = "") -> str:
    """Connect a destination as the CLI does; its public id."""
    request = destinations.Connection(product_id=tenant.product_id, channel=channel, provider=provider,
                                      account_id=account_id, access_token=access_token,
                                      refresh_token=refresh_token, expires_in=86400, name=name)
    with session_scope(app.extensions["markaestro.sessions"]) as session:
        row = destinations.connect(session, app.extensions["markaestro.channels"],
                                   app.config["MARKAESTRO_SECRET_KEY"], request)
        return str(row.public_id)


@pytest.fixture
def tiktok_destination(app: Flask, tenant: Tenant, tiktok: TikTok) -> str:
    """A creator whose tokens the TikTok sandbox issued."""
    tokens = tiktok.state.issue_tokens()
    return connect(app, tenant, "tiktok", "tiktok", tokens["open_id"], tokens["access_token"],
                   tokens["refresh_token"], name="@sandbox_creator")


@pytest.fixture
def instagram_destination(app: Flask, tenant: Tenant, instagram: Instagram) -> str:
    """The Instagram sandbox's default professional account (Instagram Login)."""
    return connect(app, tenant, "instagram", "instagram", IG_USER, "IGAA-e2e-token", name="@markaestro_sandbox")


@pytest.fixture
def events(app: Flask) -> Callable[[], list[dict[str, Any]]]:
    """The recorded event envelopes (spec §4), oldest first."""
    import json

    from sqlalchemy import select

    from core.models import Event

    def read() -> list[dict[str, Any]]:
        with session_scope(app.extensions["markaestro.sessions"]) as session:
            rows = session.scalars(select(Event).order_by(Event.created_at, Event.id))
            return [json.loads(row.payload) for row in rows]

    return read


def assert_succeeded(run: dict[str, Any]) -> None:
    """The run succeeded; otherwise fail showing its error and timeline."""
    assert run["status"] == "succeeded" and run["error"] is None, f"run {run['status']}: {run['error']}; " \
        f"steps: {[(s['name'], s['status'], s['detail']) for s in run['steps']]}"
