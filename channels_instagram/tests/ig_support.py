"""Fixtures: the sandbox and a media host served over real HTTP, and the Channels facade.

Nothing here patches the plugin: Instagram is the sandbox over HTTP, and the
hosted media are real files served by a second local HTTP server.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
from channels_instagram.sandbox import SandboxConfig, SandboxState, create_app
from PIL import Image
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

import channels_instagram
from plugins.manager import Channels, create_plugin_manager
from plugins.testing import LocalPacer
from plugins.types import Credentials, Destination, MediaItem, MediaKind, Post, PublishOutcome, PublishState

IG_USER = "17841400000000001"
MP4_HEADER = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"


class Served:
    """A WSGI app on a free 127.0.0.1 port, in a background thread."""

    def __init__(self, app: Any) -> None:
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.thread.join(5)


def image_bytes(fmt: str = "JPEG", size: tuple[int, int] = (1080, 1080)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 60, 90)).save(buffer, fmt)
    return buffer.getvalue()


@dataclass
class MediaHost:
    """Hosted media files (what the core's public media URLs serve)."""

    url: str = ""
    files: dict[str, tuple[bytes, str]] = field(default_factory=dict)

    def add(self, asset_id: str, data: bytes, mime: str, **probe: Any) -> MediaItem:
        ext = {"image/jpeg": "jpg", "image/png": "png", "video/mp4": "mp4"}.get(mime, "bin")
        path = f"/media/{asset_id}/file.{ext}"
        self.files[path] = (data, mime)
        kind = MediaKind.VIDEO if mime.startswith("video/") else MediaKind.IMAGE
        return MediaItem(id=asset_id, kind=kind, mime_type=mime, size_bytes=len(data), url=self.url + path,
                         **probe)

    def jpeg(self, asset_id: str, size: tuple[int, int] = (1080, 1080)) -> MediaItem:
        return self.add(asset_id, image_bytes("JPEG", size), "image/jpeg", width=size[0], height=size[1])

    def video(self, asset_id: str, data: bytes = MP4_HEADER + bytes(4096)) -> MediaItem:
        return self.add(asset_id, data, "video/mp4", width=1080, height=1920, duration_s=12.0)

    def wsgi(self, environ: Any, start_response: Any) -> Any:
        request = Request(environ)
        data, mime = self.files.get(request.path, (b"not found", "text/plain"))
        status = 200 if request.path in self.files else 404
        return Response(data, status=status, content_type=mime)(environ, start_response)


@pytest.fixture
def media_host() -> Iterator[MediaHost]:
    host = MediaHost()
    served = Served(host.wsgi)
    host.url = served.url
    yield host
    served.close()


@dataclass
class Sandbox:
    state: SandboxState
    url: str

    def calls(self, *, skip: tuple[str, ...] = ()) -> list[str]:
        return [endpoint for endpoint, _params in self.state.calls() if endpoint not in skip]

    def params(self, endpoint: str) -> list[dict[str, Any]]:
        return [p for e, p in self.state.calls() if e == endpoint]

    def control(self, what: str, **body: Any) -> dict[str, Any]:
        response = requests.post(f"{self.url}/_sandbox/{what}", json=body, timeout=5)
        response.raise_for_status()
        return dict(response.json())

    def advance(self, seconds: float) -> None:
        self.control("clock", advance_s=seconds)


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    state = SandboxState(SandboxConfig(video_processing_s=30.0, fetch_timeout_s=5.0))
    served = Served(create_app(state))
    yield Sandbox(state, served.url)
    served.close()


def settings_for(url: str, **extra: str) -> dict[str, str]:
    return {"instagram_graph_url": url, "meta_graph_url": url, "instagram_api_url": url, "instagram_oauth_url": url,
            "client_id": "990001", "client_secret": "sandbox-secret", "timeout_s": "1", **extra}


@pytest.fixture
def channels(sandbox: Sandbox) -> Channels:
    pm = create_plugin_manager(load_entrypoints=False, extra=[channels_instagram])
    return Channels(pm, settings={"instagram": settings_for(sandbox.url)})


DEST = Destination(channel="instagram", provider="instagram", account_id=IG_USER, name="@markaestro_sandbox")
CREDS = Credentials(access_token="IGAAsandbox-token")


def post_of(*media: MediaItem, caption: str = "Launch day", **options: Any) -> Post:
    return Post(id="pst_1", caption=caption, media=tuple(media), options=options, idempotency_token="pst_1:t")


@dataclass
class Driver:
    """Drives a publish the way the core does, recording every outcome."""

    channels: Channels
    sandbox: Sandbox
    pacer: LocalPacer = field(default_factory=LocalPacer)
    destination: Destination = DEST
    credentials: Credentials = CREDS
    outcomes: list[PublishOutcome] = field(default_factory=list)

    def step(self, post: Post, handle: dict[str, Any]) -> PublishOutcome:
        return self._keep(self.channels.publish_step("instagram", destination=self.destination, post=post,
                                                     handle=handle, credentials=self.credentials, pacer=self.pacer))

    def poll(self, post: Post, handle: dict[str, Any]) -> PublishOutcome:
        return self._keep(self.channels.poll_publish("instagram", destination=self.destination, post=post,
                                                     handle=handle, credentials=self.credentials, pacer=self.pacer))

    def reconcile(self, post: Post, handle: dict[str, Any]) -> PublishOutcome | None:
        return self.channels.reconcile_publish("instagram", destination=self.destination, post=post,
                                               handle=handle, credentials=self.credentials, pacer=self.pacer)

    def _keep(self, outcome: PublishOutcome) -> PublishOutcome:
        self.outcomes.append(outcome)
        return outcome

    def run(self, post: Post, handle: dict[str, Any] | None = None, *, advance_s: float = 60.0,
            until: Callable[[PublishOutcome], bool] | None = None) -> PublishOutcome:
        """Step and poll to a terminal state; each WAITING moves the sandbox clock by ``advance_s``."""
        outcome = self.step(post, dict(handle or {}))
        for _ in range(60):
            if outcome.state in {PublishState.PUBLISHED, PublishState.FAILED} or (until and until(outcome)):
                return outcome
            if outcome.state == PublishState.WAITING:
                self.sandbox.advance(advance_s)
                outcome = self.poll(post, dict(outcome.handle))
            else:
                outcome = self.step(post, dict(outcome.handle))
        raise AssertionError("publish did not finish")


@pytest.fixture
def driver(channels: Channels, sandbox: Sandbox) -> Driver:
    return Driver(channels, sandbox)
