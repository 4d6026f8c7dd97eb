"""The publish worker: an RQ worker with its scheduler, plus the sweeper thread.

``markaestro worker`` calls :func:`run_worker`; ``python -m core.worker``
does the same from the environment (tests and scripts).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import multiprocessing
import multiprocessing.util
import os
import signal
import socket
import sys
import time
from collections.abc import Callable, Mapping
from multiprocessing.process import BaseProcess
from typing import Any

from rq import Worker
from rq.serializers import JSONSerializer

from . import jobs
from .channels import build_channels
from .db import session_scope
from .idempotency import purge_expired
from .services.media_orphans import delete_orphans
from .services.publishing_context import PipelineContext
from .storage import storage_from_config
from .sweeper import Sweeper, sweep_interval
from .webhooks import jobs as webhook_jobs

ORPHAN_SWEEP_INTERVAL_S = 3600.0  #: how often a worker looks for stored media no row refers to


def run_worker(config: Mapping[str, Any], burst: bool = False, *, worker_class: type[Worker] = Worker,
               name: str | None = None) -> bool:
    """Work the publishing and webhook queues on ``MARKAESTRO_REDIS_URL`` until stopped.

    Runs RQ's scheduler (delayed polls and retries) and a sweeper that
    re-creates jobs from the database, dispatches recorded events to
    webhook endpoints and purges expired idempotency keys every
    ``MARKAESTRO_SWEEP_INTERVAL_SECONDS``. Webhook deliveries get a worker
    process of their own, so a hanging endpoint never delays publishing.
    With ``burst``, one worker sweeps once, works both queues until they are
    empty, and returns whether any job ran.
    """
    multiprocessing.util.register_after_fork(_die_with_parent, _die_with_parent)
    jobs.configure(config, build_channels(config))
    webhook_jobs.configure(config)
    ctx = jobs.pipeline_context()  # built here, before any fork: work horses inherit it
    webhook_queue = webhook_jobs.runtime().queue()
    _warm_up(config)
    sweeper = Sweeper(ctx, sweep_interval(config), chores=_chores(ctx, config))
    sweeper.run_once()
    queues = [ctx.queue, webhook_queue] if burst else [ctx.queue]
    deliveries = None if burst else _start_webhook_worker(worker_class, name)
    if not burst:
        sweeper.start()
    worker = worker_class(queues, connection=ctx.queue.connection, serializer=JSONSerializer,
                          name=name or f"markaestro-{socket.gethostname()}-{os.getpid()}")
    try:
        return bool(worker.work(burst=burst, with_scheduler=True, logging_level="WARNING"))
    finally:
        sweeper.stop()
        if deliveries is not None:
            deliveries.terminate()
            deliveries.join(timeout=30)


def _warm_up(config: Mapping[str, Any]) -> None:
    """Pay once, in the worker, the first-use costs every forked work horse would pay again.

    The first seal/unseal initialises the cryptography backend's ciphers.
    """
    from plugins.types import Credentials

    from .services.credentials import seal, unseal

    secret = str(config["MARKAESTRO_SECRET_KEY"])
    unseal(secret, "warm-up", seal(secret, "warm-up", Credentials(access_token="warm-up")))


def _chores(ctx: PipelineContext, config: Mapping[str, Any]) -> list[Callable[[], object]]:
    def dispatch_webhooks() -> object:
        return webhook_jobs.dispatch_pending(config)

    def purge_idempotency_keys() -> object:
        with session_scope(ctx.sessions) as session:
            return purge_expired(session)

    storage = storage_from_config(config)

    def delete_orphan_media() -> object:
        return delete_orphans(ctx.sessions, storage)

    return [dispatch_webhooks, purge_idempotency_keys, at_most_every(ORPHAN_SWEEP_INTERVAL_S, delete_orphan_media)]


def at_most_every(interval_s: float, chore: Callable[[], object]) -> Callable[[], object]:
    """``chore``, skipped when it last ran less than ``interval_s`` ago (the first call runs it)."""
    last: float | None = None

    def gated() -> object:
        nonlocal last
        now = time.monotonic()
        if last is not None and now - last < interval_s:
            return None
        last = now
        return chore()

    gated.__name__ = getattr(chore, "__name__", "chore")
    return gated


def _start_webhook_worker(worker_class: type[Worker], name: str | None) -> BaseProcess:
    """A child process working only the webhook queue (same settings, own connections)."""
    process = multiprocessing.get_context("fork").Process(
        target=_work_webhooks, args=(worker_class, f"{name or 'markaestro'}-webhooks-{os.getpid()}"),
        name="markaestro-webhooks", daemon=False)
    process.start()
    return process


def _work_webhooks(worker_class: type[Worker], name: str) -> None:
    queue = webhook_jobs.runtime().queue()
    worker = worker_class([queue], connection=queue.connection, serializer=JSONSerializer, name=name)
    with contextlib.suppress(KeyboardInterrupt):
        worker.work(with_scheduler=True, logging_level="WARNING")


def _die_with_parent(_: object = None) -> None:
    """In a process started through :mod:`multiprocessing` (RQ's scheduler, the webhook worker): die with the parent.

    Registered as a ``multiprocessing`` after-fork hook by :func:`run_worker`,
    so it runs in those children and never in work horses (plain
    ``os.fork``: a horse whose worker died must finish, fenced, as
    reliability.md §0 describes). Linux only (``PR_SET_PDEATHSIG``); SIGKILL,
    not SIGTERM: RQ's warm shutdown can be swallowed mid-call and leave a
    worker blocked on its queue, and whatever was cut short is in the
    database or Redis and is retried. Without it a killed worker's scheduler
    kept its lock and its webhook worker went on, both unsupervised.
    """
    parent = multiprocessing.parent_process()
    if parent is None or parent.pid is None or not sys.platform.startswith("linux"):
        return
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
    if os.getppid() != parent.pid:  # it died before the call above
        os.kill(os.getpid(), signal.SIGKILL)


def main(argv: list[str] | None = None) -> None:
    """``python -m core.worker [--burst]``: settings from ``MARKAESTRO_*`` variables."""
    parser = argparse.ArgumentParser(prog="python -m core.worker")
    parser.add_argument("--burst", action="store_true", help="stop when the queue is empty")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    from . import create_app

    run_worker(create_app().config, burst=args.burst)


if __name__ == "__main__":
    main()
