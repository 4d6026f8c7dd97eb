"""The whole system over HTTP, as an API client sees it.

For the package, on each backend (SQLite and PostgreSQL, through the
fixtures of ``tests/conftest.py``): the live server (werkzeug on 127.0.0.1,
the ``MARKAESTRO_PUBLIC_URL``, so platform sandboxes fetch the hosted media
URLs), one server per installed plugin's sandbox (its ``settings_env``
variables point at it) and ``python -m core.worker`` (RQ worker with its
scheduler and the sweeper) in a subprocess whose process group is killed at
teardown. Per test: the real app (installed channel plugins loaded from
their entry points) and fresh sandboxes from ``register_sandboxes``
(processing delays zero) are mounted on those servers, and destinations are
connected through :mod:`core.services.destinations` with sandbox tokens.

The only change to production behaviour is the poll cadence: see
:mod:`tests.e2e.cadence`.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import redis
import requests
from flask import Flask

from core import create_app
from core.channels import build_channels
from core.db import session_scope
from core.ids import new_id
from core.services import destinations
from plugins.types import Sandbox
from tests.conftest import Tenant
from tests.pipeline_kit import ROOT, Workers
from tests.services import LoopbackServer

# The flows need the TikTok and Instagram plugins installed (./scripts/test installs them;
# tox's core environment on purpose does not).
pytest.importorskip("channels_tiktok", reason="the TikTok channel plugin is not installed")
pytest.importorskip("channels_instagram", reason="the Instagram channel plugin is not installed")

API = "/api/public/v1"
RUN_DEADLINE_S = 90.0
IG_USER = "17841400000000001"  #: the Instagram sandbox's default account
SECRET_KEY = "V2VDbGVhcmx5TmVlZEFUZXN0S2V5Rm9yRTJFVGVzdHM="  #: Fernet key shared by the app and the worker
#: the app credentials the plugins use for OAuth and token refresh (the TikTok sandbox checks them)
CLIENT_SETTINGS = {"MARKAESTRO_TIKTOK_CLIENT_ID": "e2e_client_key", "MARKAESTRO_TIKTOK_CLIENT_SECRET": "e2e_secret",
                   "MARKAESTRO_INSTAGRAM_CLIENT_ID": "990001", "MARKAESTRO_INSTAGRAM_CLIENT_SECRET": "e2e_secret"}


# --------------------------------------------------------------------------- HTTP servers


class Mount:
    """A WSGI entry whose app is swapped per test, so its URL (and the worker's settings) stay put."""

    def __init__(self) -> None:
        self.app: Any = None

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if self.app is None:
            start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
            return [b"nothing mounted between tests"]
        return self.app(environ, start_response)


class Served(LoopbackServer):
    """A :class:`Mount` on a free 127.0.0.1 port, served in a background thread."""

    def __init__(self, mount: Mount) -> None:
        super().__init__(mount)
        self.mount = mount


@dataclass
class Hit:
    """One request the live app answered."""

    method: str
    path: str
    status: int
    content_type: str


class LiveApp(Mount):
    """The app's entry. Records every request with the status and ``Content-Type`` answered,
    so a test can see what a platform sandbox fetched from the hosting routes."""

    def __init__(self) -> None:
        super().__init__()
        self.hits: list[Hit] = []
        self.lock = threading.Lock()

    def mount_app(self, app: Flask | None) -> None:
        with self.lock:
            self.app, self.hits = app, []

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        def recording(status: str, headers: list[tuple[str, str]], *args: Any) -> Any:
            content_type = next((v for k, v in headers if k.lower() == "content-type"), "")
            with self.lock:
                self.hits.append(Hit(environ["REQUEST_METHOD"], environ.get("PATH_INFO", ""),
                                     int(status.split()[0]), content_type))
            return start_response(status, headers, *args)

        return super().__call__(environ, recording)

    def media_hits(self) -> list[Hit]:
        with self.lock:
            return [h for h in self.hits if h.path.startswith("/media/")]


def installed_sandboxes() -> list[Sandbox]:
    """Fresh sandboxes of every installed channel plugin (``register_sandboxes``)."""
    return build_channels({"MARKAESTRO_LOAD_PLUGINS": True}).sandboxes()


@dataclass
class Servers:
    """The live app and each installed plugin's sandbox, each on a port of its own for the package."""

    live: Served
    sandboxes: dict[str, Served]
    settings_env: dict[str, tuple[str, ...]]

    def settings(self) -> dict[str, str]:
        """``MARKAESTRO_*`` variable → the URL of the sandbox it must point at."""
        return {env: self.sandboxes[name].url for name, names in self.settings_env.items() for env in names}

    def close(self) -> None:
        for served in [self.live, *self.sandboxes.values()]:
            served.close()


@pytest.fixture(scope="package")
def servers() -> Iterator[Servers]:
    boxes = installed_sandboxes()
    missing = {"tiktok", "instagram"} - {box.name for box in boxes}
    assert not missing, f"channel plugins not installed: {sorted(missing)}"
    served = Servers(Served(LiveApp()), {box.name: Served(Mount()) for box in boxes},
                     {box.name: tuple(box.settings_env) for box in boxes})
    yield served
    served.close()


@pytest.fixture
def live(servers: Servers) -> tuple[LiveApp, Served]:
    entry = servers.live.mount
    assert isinstance(entry, LiveApp)
    return entry, servers.live


# --------------------------------------------------------------------------- sandboxes


def _without_delays(box: Sandbox) -> None:
    """Processing delays near zero (the run waits on polls, not on the sandbox clock); app credentials."""
    if box.name == "tiktok":
        from channels_tiktok.sandbox import sandbox_state

        config = sandbox_state(box.app).config  # type: ignore[arg-type]
        config.processing_delay_s = 0.0
        config.client_key = CLIENT_SETTINGS["MARKAESTRO_TIKTOK_CLIENT_ID"]
        config.client_secret = CLIENT_SETTINGS["MARKAESTRO_TIKTOK_CLIENT_SECRET"]
    elif box.name == "instagram":
        box.app.extensions["instagram_sandbox"].configure(  # type: ignore[attr-defined]
            image_processing_s=0.0, video_processing_s=0.0, carousel_processing_s=0.0, fetch_timeout_s=5.0)


@pytest.fixture
def sandboxes(servers: Servers) -> Iterator[dict[str, Sandbox]]:
    """Fresh sandboxes for this test, mounted at the package's sandbox URLs."""
    boxes = {box.name: box for box in installed_sandboxes()}
    for name, box in boxes.items():
        _without_delays(box)
        servers.sandboxes[name].mount.app = box.app
    yield boxes
    for name in boxes:
        servers.sandboxes[name].mount.app = None


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
def tiktok(servers: Servers, sandboxes: dict[str, Sandbox]) -> TikTok:
    from channels_tiktok.sandbox import sandbox_state

    return TikTok(servers.sandboxes["tiktok"].url, sandbox_state(sandboxes["tiktok"].app))  # type: ignore[arg-type]


@pytest.fixture
def instagram(servers: Servers, sandboxes: dict[str, Sandbox]) -> Instagram:
    state = sandboxes["instagram"].app.extensions["instagram_sandbox"]  # type: ignore[attr-defined]
    return Instagram(servers.sandboxes["instagram"].url, state)


# --------------------------------------------------------------------------- the app and the worker


@pytest.fixture(scope="package")
def e2e_settings(database_url: str, redis_url: str, servers: Servers,
                 tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """What the app and the worker share for the package on one backend.

    Installed plugins, sandbox URLs and app credentials, the live server as
    public URL, one media folder and queue, short pipeline timings.
    """
    return {
        **servers.settings(),
        **CLIENT_SETTINGS,
        "MARKAESTRO_DATABASE_URL": database_url,
        "MARKAESTRO_REDIS_URL": redis_url,
        "MARKAESTRO_SECRET_KEY": SECRET_KEY,
        "MARKAESTRO_MEDIA_DIR": str(tmp_path_factory.mktemp("e2e-media")),
        "MARKAESTRO_PUBLIC_URL": servers.live.url,
        "MARKAESTRO_RATE_LIMIT": "off",
        "MARKAESTRO_LOAD_PLUGINS": True,
        "MARKAESTRO_EXTRA_PLUGINS": "tests.e2e.cadence",
        "MARKAESTRO_TIKTOK_TIMEOUT_SECONDS": "10",
        "MARKAESTRO_INSTAGRAM_TIMEOUT_SECONDS": "10",
        "MARKAESTRO_LEASE_SECONDS": "10",
        "MARKAESTRO_SWEEP_INTERVAL_SECONDS": "0.5",
        "MARKAESTRO_RETRY_BASE_SECONDS": "0.1",
        "MARKAESTRO_QUEUE_NAME": f"e2e-{new_id('run')}",
    }


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    """Redis emptied of everything but RQ's keys: the package's worker keeps its registration and queue."""
    client = redis.Redis.from_url(redis_url)
    stale = [key for key in client.scan_iter(count=500) if not key.startswith(b"rq:")]
    if stale:
        client.delete(*stale)
    yield client
    client.close()


@pytest.fixture
def app_config(app_config: dict[str, Any], e2e_settings: dict[str, Any]) -> dict[str, Any]:
    return {**app_config, **e2e_settings}


@pytest.fixture
def app(app_config: dict[str, Any], live: tuple[LiveApp, Served]) -> Iterator[Flask]:
    """The real app (no test plugins besides the cadence wrapper), mounted on the live server."""
    application = create_app(app_config)
    live[0].mount_app(application)
    yield application
    live[0].mount_app(None)
    application.extensions["markaestro.engine"].dispose()


@pytest.fixture(scope="package")
def package_worker(e2e_settings: dict[str, Any]) -> Iterator[Workers]:
    """One ``python -m core.worker`` process (RQ worker, scheduler, sweeper) for the package on one backend.

    Package-scoped so its sweeper never sees other packages' rows; its
    process group (and every work horse) is killed at teardown.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("MARKAESTRO_")}
    env.update({k: str(v) for k, v in e2e_settings.items()})
    env["PYTHONPATH"] = str(ROOT)
    kit = Workers(env)
    kit.start()
    yield kit
    kit.stop_all()


@pytest.fixture
def worker(package_worker: Workers, app: Flask, sandboxes: dict[str, Sandbox]) -> Workers:
    """The package's worker, still running."""
    [process] = package_worker.processes
    assert process.poll() is None, f"the worker exited with status {process.returncode}"
    return package_worker


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
