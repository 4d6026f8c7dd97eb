"""Two real ``rq worker`` processes (forking work horses) deliver webhooks from the environment's settings.

A receiver that hangs holds one worker; the other endpoint's event is still
delivered meanwhile.
"""

# ruff: noqa: F811  (fixtures imported from tests.webhook_support)
from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from core.db import session_scope
from core.models import WebhookDelivery
from core.resources.webhooks import RESOLVER_EXTENSION
from core.services.events import record_event
from core.webhooks import jobs
from tests.webhook_support import HANG, FakeResolver, Receiver, receiver  # noqa: F401

RQ = str(Path(sys.executable).with_name("rq"))


@pytest.fixture
def app_config(app_config):
    return {**app_config, "MARKAESTRO_WEBHOOK_ALLOW_PRIVATE": True, "MARKAESTRO_WEBHOOK_RETRY_SCHEDULE": "0",
            "MARKAESTRO_WEBHOOK_TIMEOUT_SECONDS": 30}


@pytest.fixture
def configured(app):
    app.extensions[RESOLVER_EXTENSION] = FakeResolver()
    jobs.configure(app.config)
    yield app.config
    jobs.configure(None)


def start_workers(config, tmp_path: Path, count: int) -> list[subprocess.Popen[bytes]]:
    env = {**os.environ, **{k: str(v) for k, v in config.items() if k.startswith("MARKAESTRO_WEBHOOK_")},
           "MARKAESTRO_DATABASE_URL": config["MARKAESTRO_DATABASE_URL"],
           "MARKAESTRO_REDIS_URL": config["MARKAESTRO_REDIS_URL"],
           "MARKAESTRO_SECRET_KEY": config["MARKAESTRO_SECRET_KEY"], "MARKAESTRO_INSTANCE_PATH": str(tmp_path)}
    command = [RQ, "worker", "--burst", "-u", config["MARKAESTRO_REDIS_URL"], "-S", "json",
               "--logging_level", "WARNING", "markaestro-webhooks"]
    return [subprocess.Popen(command, env=env, stdout=open(tmp_path / f"worker{i}.log", "wb"),
                             stderr=subprocess.STDOUT, cwd=Path(__file__).parents[1]) for i in range(count)]


def test_a_hanging_endpoint_does_not_stall_another_with_two_worker_processes(
    client, tenant, sessions, configured, receiver: Receiver, tmp_path
):
    receiver.script["/hang"] = [HANG]
    ids = {}
    for path in ("/hang", "/fine"):
        created = client.post("/api/public/v1/webhook-endpoints", json={"url": receiver.url(path)},
                              headers=tenant.headers)
        ids[path] = created.get_json()["id"]
    with session_scope(sessions) as session:
        record_event(session, tenant.workspace_id, "post.published", {"postId": "pst_1"})
    assert jobs.dispatch_pending() == 2
    workers = start_workers(configured, tmp_path, 2)
    try:
        both = threading.Event()
        watcher = threading.Thread(daemon=True, target=lambda: _until(
            lambda: receiver.to("/fine") and receiver.holding("/hang"), both))
        watcher.start()
        # /fine is answered while /hang still holds the other worker (released only below)
        assert both.wait(60), (tmp_path / "worker0.log").read_text() + (tmp_path / "worker1.log").read_text()
        assert len(receiver.to("/fine")) == 1
        receiver.release()
        done = threading.Event()
        threading.Thread(daemon=True, target=lambda: _until(lambda: statuses(sessions) == {
            ids["/hang"]: "delivered", ids["/fine"]: "delivered"}, done)).start()
        assert done.wait(60), statuses(sessions)
    finally:
        for worker in workers:  # burst workers can take a minute to stop RQ's pubsub thread; no need to wait
            worker.kill()
            worker.wait()


def statuses(sessions) -> dict[str, str]:
    with session_scope(sessions) as session:
        return {d.endpoint_id: d.status for d in session.query(WebhookDelivery)}


def _until(found, event: threading.Event) -> None:
    while not found():
        if event.wait(0.05):
            return
    event.set()
