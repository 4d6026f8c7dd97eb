"""Fixtures: the TikTok sandbox and a media server over real HTTP, the Channels facade."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from channels_tiktok.sandbox import SandboxConfig, SandboxState, create_app, sandbox_state
from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request, Response

import channels_tiktok
from plugins.manager import Channels, create_plugin_manager
from plugins.testing import LocalPacer, make_post
from plugins.types import Credentials, Destination, MediaItem, MediaKind, Post

CLIENT_KEY, CLIENT_SECRET = "sbx_client_key", "sbx_client_secret"


def serve(app: Callable[..., Any]) -> tuple[BaseWSGIServer, str]:
    """Serve ``app`` on a free 127.0.0.1 port in a daemon thread."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_port}"


@dataclass
class Sandbox:
    url: str
    state: SandboxState

    def calls(self, *, skip_status: bool = False) -> list[str]:
        calls = self.state.calls()
        return [c for c in calls if not (skip_status and "/status/fetch/" in c)]


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    app = create_app(SandboxConfig(processing_delay_s=0.0, client_key=CLIENT_KEY, client_secret=CLIENT_SECRET))
    server, url = serve(app)
    yield Sandbox(url, sandbox_state(app))
    server.shutdown()


def settings_for(sandbox: Sandbox, **extra: str) -> dict[str, str]:
    return {"api_url": sandbox.url, "auth_url": sandbox.url, "client_key": CLIENT_KEY,
            "client_secret": CLIENT_SECRET, "timeout_s": "5", **extra}


@pytest.fixture
def make_channels(sandbox: Sandbox) -> Callable[..., Channels]:
    def make(**extra: str) -> Channels:
        pm = create_plugin_manager(load_entrypoints=False, extra=[channels_tiktok])
        return Channels(pm, settings={"tiktok": settings_for(sandbox, **extra)})

    return make


@pytest.fixture
def channels(make_channels: Callable[..., Channels]) -> Channels:
    return make_channels()


@pytest.fixture
def pacer() -> LocalPacer:
    return LocalPacer()


@dataclass
class Account:
    destination: Destination
    credentials: Credentials
    tokens: dict[str, Any] = field(default_factory=dict)


@pytest.fixture
def account(sandbox: Sandbox) -> Account:
    """A creator with tokens issued by the sandbox."""
    tokens = sandbox.state.issue_tokens()
    destination = Destination("tiktok", "tiktok", tokens["open_id"], name="Sandbox",
                              metadata={"username": "sandbox_creator_1"})
    credentials = Credentials(access_token=tokens["access_token"], refresh_token=tokens["refresh_token"])
    return Account(destination, credentials, tokens)


@dataclass
class MediaServer:
    url: str
    files: dict[str, tuple[bytes, str]]

    def add(self, name: str, data: bytes, content_type: str) -> str:
        self.files[name] = (data, content_type)
        return f"{self.url}/{name}"


@pytest.fixture
def media_server() -> Iterator[MediaServer]:
    files: dict[str, tuple[bytes, str]] = {}

    @Request.application  # type: ignore[arg-type]
    def app(request: Request) -> Response:
        entry = files.get(request.path.lstrip("/"))
        if entry is None:
            return Response("not found", 404)
        return Response(entry[0], 200, content_type=entry[1])

    server, url = serve(app)
    yield MediaServer(url, files)
    server.shutdown()


def video_item(tmp_path: Path, size: int, mime_type: str = "video/mp4") -> MediaItem:
    """A sparse temporary video file of ``size`` bytes, streamed through ``open()``."""
    path = tmp_path / f"video_{size}.mp4"
    with path.open("wb") as handle:
        handle.write(b"\x00\x00\x00\x18ftypmp42")
        handle.truncate(size)
    return MediaItem(id="ast_vid", kind=MediaKind.VIDEO, mime_type=mime_type, size_bytes=size,
                     url="http://localhost:8000/media/ast_vid/v.mp4", width=1080, height=1920,
                     duration_s=15.0, opener=lambda: path.open("rb"))


def video_post(tmp_path: Path, size: int) -> Post:
    return make_post(video_item(tmp_path, size), caption="Spring drop teaser")
