"""RQ job functions. They take ids, re-read the database and never trust RQ state.

The worker calls :func:`configure` once with its settings and channel
plugins; each process (the worker and every forked work horse) then builds
its own database engine and Redis client on first use, so no connection is
shared across a fork. A job run by a plain ``rq worker`` configures itself
from the environment.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from rq import get_current_job
from sqlalchemy.orm import Session, sessionmaker

from plugins.manager import Channels

from .db import make_engine, make_session_factory
from .pacer import RedisPacer
from .queue import connect, enqueue_run, make_queue
from .services.publishing_context import PipelineContext, PipelineSettings
from .services.publishing_run import process_run

_setup: tuple[Mapping[str, Any], Channels] | None = None
_contexts: dict[int, PipelineContext] = {}


def configure(config: Mapping[str, Any], channels: Channels) -> None:
    """Set the configuration and plugins jobs in this process (and its forks) use."""
    global _setup
    _setup = (dict(config), channels)
    _contexts.clear()


def pipeline_context() -> PipelineContext:
    """This process's pipeline context, built on first use.

    Contexts inherited through ``fork`` are kept referenced but never used,
    so their pooled connections are neither reused nor closed under the
    parent's feet.
    """
    pid = os.getpid()
    if pid not in _contexts:
        if _setup is None:
            _configure_from_environment()
        assert _setup is not None
        _contexts[pid] = build_context(*_setup)
    return _contexts[pid]


def build_context(config: Mapping[str, Any], channels: Channels) -> PipelineContext:
    sessions: sessionmaker[Session] = make_session_factory(make_engine(str(config["MARKAESTRO_DATABASE_URL"])))
    connection = connect(str(config["MARKAESTRO_REDIS_URL"]))
    queue = make_queue(connection, str(config.get("MARKAESTRO_QUEUE_NAME") or "markaestro"))

    def schedule(run_id: str, fence: int, at: datetime | None, note: str = "") -> None:
        enqueue_run(queue, run_id, fence, at, description=note)

    return PipelineContext(sessions=sessions, channels=channels, config=config, pacer=RedisPacer(connection),
                           schedule=schedule, settings=PipelineSettings.from_config(config), queue=queue)


def _configure_from_environment() -> None:
    from . import create_app

    app = create_app()
    configure(app.config, app.extensions["markaestro.channels"])


def publish_run(run_id: str) -> str:
    """Advance the publish run ``run_id`` as far as it can go without waiting."""
    ctx = pipeline_context()
    job = get_current_job()
    owner = f"{job.id if job else 'inline'}/{os.getpid()}/{secrets.token_hex(4)}"
    return process_run(ctx, run_id, owner)
