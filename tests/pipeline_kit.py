"""Fixtures for pipeline tests: the fake platform over HTTP, real RQ worker processes, posts.

Import the fixtures by name into a test module. Workers are ``python -m
core.worker`` subprocesses in their own session; teardown SIGKILLs each
worker's process group and every work horse it forked (horses live in
process groups of their own, reliability.md §0).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from core.db import session_scope
from core.ids import new_id
from core.models import Destination, JobRun, Post, PublishTarget
from core.services.credentials import seal
from plugins.testing.fake_platform import FakePlatform
from plugins.types import Credentials
from tests.services import LoopbackServer

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class FakePlatformServer:
    url: str
    app: FakePlatform

    def control(self, **behaviour: Any) -> None:
        requests.post(f"{self.url}/_control", json=behaviour, timeout=5).raise_for_status()

    def created(self) -> dict[str, int]:
        """Creating calls that created something, per idempotency token."""
        return dict(self.app.state.created)

    def creator(self, post_id: str, action: str) -> None:
        """The creator publishes (``"publish"``) or deletes (``"delete"``) an inbox draft in the app."""
        requests.post(f"{self.url}/_creator/{post_id}", json={"action": action}, timeout=5).raise_for_status()


@pytest.fixture
def fake_platform() -> Iterator[FakePlatformServer]:
    app = FakePlatform()
    with LoopbackServer(app) as server:
        yield FakePlatformServer(server.url, app)


@pytest.fixture
def app_config(app_config: dict[str, Any], fake_platform: FakePlatformServer) -> dict[str, Any]:
    """The app's settings with short pipeline timings and the fake platform's address."""
    return {**app_config, "MARKAESTRO_FAKE_API_URL": fake_platform.url, "MARKAESTRO_LEASE_SECONDS": "3",
            "MARKAESTRO_SWEEP_INTERVAL_SECONDS": "0.3", "MARKAESTRO_RETRY_BASE_SECONDS": "0.05",
            "MARKAESTRO_QUEUE_NAME": f"test-{new_id('run')}",
            "MARKAESTRO_EXTRA_PLUGINS": "plugins.testing.fake_channel"}


@dataclass
class Workers:
    """Starts worker processes and cleans up after them, horses included."""

    env: dict[str, str]
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    horses: set[int] = field(default_factory=set)

    def start(self, *extra: str) -> subprocess.Popen[bytes]:
        process = subprocess.Popen([sys.executable, "-m", "core.worker", *extra], cwd=ROOT, env=self.env,
                                   start_new_session=True, stdout=subprocess.DEVNULL, stderr=_worker_log())
        self.processes.append(process)
        return process

    def children(self, process: subprocess.Popen[bytes]) -> list[int]:
        """The work horses ``process`` forked and still running (each leads its own process group).

        Every child (the scheduler process too) is remembered for teardown.
        """
        return [pid for pid, group in self.child_processes(process).items() if pid == group]

    def child_processes(self, process: subprocess.Popen[bytes]) -> dict[int, int]:
        """Every process ``process`` started (horses, scheduler, webhook worker): pid to process group.

        Each is remembered for teardown.
        """
        found = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    _state, ppid, pgrp = (entry / "stat").read_text().rsplit(")", 1)[1].split()[:3]
                except (OSError, ValueError):
                    continue
                if int(ppid) == process.pid:
                    found[int(entry.name)] = int(pgrp)
        self.horses.update(found)
        return found

    def kill_group(self, process: subprocess.Popen[bytes]) -> None:
        self.children(process)
        _kill(lambda: os.killpg(process.pid, signal.SIGKILL))
        process.wait(timeout=10)

    def kill_parent(self, process: subprocess.Popen[bytes]) -> None:
        self.children(process)
        process.kill()
        process.wait(timeout=10)

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                self.children(process)
            _kill(lambda p=process: os.killpg(p.pid, signal.SIGKILL))  # type: ignore[misc]
            process.wait(timeout=10)
        for pid in self.horses:
            _kill(lambda p=pid: os.kill(p, signal.SIGKILL))  # type: ignore[misc]


def _worker_log() -> Any:
    """Workers' logs go to the file ``$MARKAESTRO_TEST_WORKER_LOG`` names (appended), else nowhere."""
    path = os.environ.get("MARKAESTRO_TEST_WORKER_LOG")
    return open(path, "ab") if path else subprocess.DEVNULL


def _kill(action: Callable[[], None]) -> None:
    from contextlib import suppress

    with suppress(ProcessLookupError, PermissionError):
        action()


@pytest.fixture
def workers(app_config: dict[str, Any]) -> Iterator[Workers]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MARKAESTRO_")}
    env.update({k: str(v) for k, v in app_config.items() if k.startswith("MARKAESTRO_")})
    env.update({"MARKAESTRO_LOAD_PLUGINS": "false", "PYTHONPATH": str(ROOT)})
    kit = Workers(env)
    yield kit
    kit.stop_all()


def connect_fake(sessions: Any, tenant: Any, app_config: dict[str, Any], *, channel: str = "fake",
                 account: str = "acct_1", fan_out: list[str] | None = None,
                 credentials: Credentials | None = None) -> Destination:
    """A connected destination with sealed credentials."""
    credentials = credentials or Credentials(access_token="good-token", refresh_token="r1")
    with session_scope(sessions) as session:
        row = Destination(id=new_id("dst"), workspace_id=tenant.workspace_id, product_id=tenant.product_id,
                          channel=channel, provider="fake", account_id=account, name=account,
                          fan_out=fan_out or [])
        row.credentials = seal(app_config["MARKAESTRO_SECRET_KEY"], row.id, credentials)
        session.add(row)
        return row


def make_post(sessions: Any, tenant: Any, destination: Destination, *, caption: str = "Hello",
              status: str = "draft", scheduled_at: datetime | None = None) -> str:
    """A post row (the posts API is another issue's; tests arrange rows directly)."""
    with session_scope(sessions) as session:
        post = Post(id=new_id("pst"), workspace_id=tenant.workspace_id, product_id=tenant.product_id,
                    channel=destination.channel, destination_id=destination.id, caption=caption,
                    media_asset_ids=[], options={}, status=status, scheduled_at=scheduled_at)
        session.add(post)
        return post.id


def publish(client: Any, tenant: Any, post_id: str) -> dict[str, Any]:
    response = client.post(f"/api/public/v1/posts/{post_id}/publish", headers=tenant.headers)
    assert response.status_code == 202, response.get_json()
    body: dict[str, Any] = response.get_json()
    return body


def wait_until(predicate: Callable[[], Any], timeout: float = 60.0, what: str = "condition") -> Any:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def run_status(sessions: Any, run_id: str) -> str | None:
    with session_scope(sessions) as session:
        run = session.get(JobRun, run_id)
        return run.status if run else None


def finished(sessions: Any, run_id: str) -> bool:
    return run_status(sessions, run_id) in ("succeeded", "failed")


def targets_of(sessions: Any, post_id: str) -> list[PublishTarget]:
    from sqlalchemy import select

    with session_scope(sessions) as session:
        return list(session.scalars(select(PublishTarget).where(PublishTarget.post_id == post_id)
                                    .order_by(PublishTarget.position)))


def post_status(sessions: Any, post_id: str) -> str:
    with session_scope(sessions) as session:
        post = session.get(Post, post_id)
        assert post is not None
        return post.status


@pytest.fixture
def count_events(sessions: Any) -> Callable[[], dict[str, Any]]:
    """The recorded events' envelopes by type (the last of each type)."""
    import json

    from sqlalchemy import select

    from core.models import Event

    def read() -> dict[str, Any]:
        with session_scope(sessions) as session:
            return {e.type: json.loads(e.payload) for e in session.scalars(select(Event).order_by(Event.created_at))}

    return read


def drive(ctx: Any, sessions: Any, run_id: str, timeout: float = 30.0) -> str:
    """Call the job function in this process until the run is finished; its final status.

    For behaviour that is not about scheduling: each call claims the run
    when it is due, exactly as a worker's job would (real Redis for the
    pacer and the queue the next job goes to).
    """
    from core.services.publishing_run import process_run

    def step() -> bool:
        process_run(ctx, run_id, f"test-{new_id('run')}")
        return finished(sessions, run_id)

    wait_until(step, timeout=timeout, what=f"run {run_id} to finish in process")
    status = run_status(sessions, run_id)
    assert status is not None
    return status


@pytest.fixture
def pipeline(app: Any) -> Any:
    """A pipeline context over the app's database, plugins and settings (real Redis)."""
    from dataclasses import replace

    from core.jobs import build_context

    ctx = build_context(app.config, app.extensions["markaestro.channels"])
    return replace(ctx, sessions=app.extensions["markaestro.sessions"])


def stored_credentials(sessions: Any, app_config: dict[str, Any], destination_id: str) -> tuple[Credentials, bytes]:
    """The destination's credentials unsealed, and the sealed bytes as stored."""
    from core.services.credentials import unseal

    with session_scope(sessions) as session:
        row = session.get(Destination, destination_id)
        assert row is not None and row.credentials
        sealed = row.credentials
        raw = sealed if isinstance(sealed, bytes) else str(sealed).encode()
        return unseal(app_config["MARKAESTRO_SECRET_KEY"], row.id, sealed), raw


def event_types(sessions: Any) -> list[str]:
    """Every recorded event's type, oldest first."""
    from sqlalchemy import select

    from core.models import Event

    with session_scope(sessions) as session:
        return list(session.scalars(select(Event.type).order_by(Event.created_at, Event.id)))


def runs_of(sessions: Any, post_id: str) -> list[JobRun]:
    """The post's runs, oldest first."""
    from sqlalchemy import select

    with session_scope(sessions) as session:
        return list(session.scalars(select(JobRun).where(JobRun.post_id == post_id).order_by(JobRun.created_at)))
