"""RQ entry points for webhook delivery (queue ``markaestro-webhooks``, JSON serializer, ids only).

For the worker (``core/worker.py``):

- listen to :data:`~core.webhooks.settings.QUEUE_NAME` (``MARKAESTRO_WEBHOOK_QUEUE_NAME``) besides the
  publishing queue, with ``serializer=rq.serializers.JSONSerializer`` and the RQ scheduler on
  (``with_scheduler=True``: retries are ``enqueue_in``);
- call :func:`configure` once with the app config at start-up (optional: without it the
  settings come from the ``MARKAESTRO_*`` environment);
- call :func:`dispatch_pending` every second or two: it turns new event rows into deliveries,
  enqueues them, and re-enqueues deliveries whose wake-up was lost (Redis restart, dead
  worker, lost scheduler).

Deliveries have a queue of their own so that a slow endpoint (at most ``timeout`` per
attempt) never delays publishing jobs.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from redis import Redis
from rq import Queue
from rq.serializers import JSONSerializer
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from .. import config as core_config
from ..db import make_engine, make_session_factory, session_scope
from ..models import WebhookDelivery
from ..timeutil import utcnow
from . import delivery
from .settings import WebhookSettings, webhook_settings
from .ssrf import Resolver, system_resolver

log = logging.getLogger(__name__)
DELIVER = "core.webhooks.jobs.deliver"
SWEEP_MARK = "markaestro:webhooks:swept:"
BACKLOG_BUDGET_S = 10.0  #: a delivery job stops taking other due deliveries after this long
BACKLOG_ROUND = 50  #: due deliveries read per round
BACKLOG_PER_ENDPOINT = 10  #: of one endpoint per round (so one endpoint cannot fill a round)
BACKLOG_THREADS = 8  #: endpoints sent to side by side


@dataclass
class Runtime:
    """Per-process webhook machinery: settings, database sessions, Redis, resolver."""

    config: Mapping[str, Any]
    settings: WebhookSettings
    sessions: sessionmaker[Session]
    redis: Redis
    resolver: Resolver

    def context(self) -> delivery.Context:
        return delivery.Context(self.settings, str(self.config["MARKAESTRO_SECRET_KEY"]), self.resolver)

    def queue(self) -> Queue:
        return Queue(self.settings.queue_name, connection=self.redis, serializer=JSONSerializer)


_configured: dict[str, Any] = {}
_runtimes: dict[int, Runtime] = {}


def configure(config: Mapping[str, Any] | None = None, *, resolver: Resolver | None = None) -> None:
    """Use ``config`` (an app config) and ``resolver`` for this process and its forked work horses."""
    _configured.clear()
    _configured.update(config=dict(config) if config is not None else None, resolver=resolver)
    _runtimes.clear()


def runtime() -> Runtime:
    """This process's runtime, built on first use.

    A forked child (a work horse) inherits its parent's runtime, so the
    engine's dialect state and statement cache, the settings and the
    resolver are not rebuilt per job; the ``register_at_fork`` hook below
    gives the child an empty connection pool first (redis-py resets its own
    pool in a child), so no connection is shared across processes.
    """
    if not _runtimes:
        config = _configured.get("config") or environment_config()
        _runtimes[os.getpid()] = Runtime(
            config=config, settings=webhook_settings(config),
            sessions=make_session_factory(make_engine(config["MARKAESTRO_DATABASE_URL"])),
            redis=Redis.from_url(config["MARKAESTRO_REDIS_URL"]),
            resolver=_configured.get("resolver") or system_resolver,
        )
    return next(iter(_runtimes.values()))


def _after_fork_in_child() -> None:
    for current in _runtimes.values():
        engine = current.sessions.kw.get("bind")
        if isinstance(engine, Engine):
            engine.dispose(close=False)


os.register_at_fork(after_in_child=_after_fork_in_child)


def environment_config() -> dict[str, Any]:
    """Settings as ``create_app`` reads them, without building an app."""
    config: dict[str, Any] = dict(core_config.DEFAULTS)
    config.update(core_config.from_environment())
    instance = os.environ.get("MARKAESTRO_INSTANCE_PATH") or str(Path(__file__).resolve().parents[2] / "instance")
    core_config.normalize(config, Path(instance))
    return config


def enqueue_delivery(queue: Queue, settings: WebhookSettings, delivery_id: str, at: datetime | None = None) -> None:
    """Wake the delivery now, or at ``at`` through the RQ scheduler."""
    options: dict[str, Any] = {"job_timeout": int(BACKLOG_BUDGET_S + settings.timeout) + 30, "result_ttl": 60,
                               "failure_ttl": 7 * 86400}
    delay = (at - utcnow()).total_seconds() if at else 0.0
    if delay > 0:
        queue.enqueue_in(timedelta(seconds=delay), DELIVER, delivery_id, **options)
    else:
        queue.enqueue(DELIVER, delivery_id, **options)


def enqueue_now(config: Mapping[str, Any], delivery_id: str) -> None:
    """Enqueue a delivery from the API process (manual retry)."""
    settings = webhook_settings(config)
    connection = Redis.from_url(config["MARKAESTRO_REDIS_URL"])
    try:
        queue = Queue(settings.queue_name, connection=connection, serializer=JSONSerializer)
        enqueue_delivery(queue, settings, delivery_id)
    finally:
        connection.close()


def deliver(delivery_id: str) -> str:
    """RQ job: one attempt of ``delivery_id``, then the other due deliveries (see :func:`work_backlog`)."""
    current = runtime()
    result = attempt(current, delivery_id)
    failing = {_endpoint_of(current, delivery_id)} if result.startswith("failed") else set()
    worked = work_backlog(current, time.monotonic() + BACKLOG_BUDGET_S, failing)
    return f"{result}; then {worked} due deliveries" if worked else result


def _endpoint_of(current: Runtime, delivery_id: str) -> str:
    with session_scope(current.sessions) as session:
        return session.get_one(WebhookDelivery, delivery_id).endpoint_id


def attempt(current: Runtime, delivery_id: str) -> str:
    """One attempt of ``delivery_id`` (if it is still pending and due); schedules the next one if it failed."""
    context = current.context()
    with session_scope(current.sessions) as session:
        claimed = delivery.claim(session, delivery_id, context)
    if claimed is None:
        return "skipped"
    outcome = delivery.send(claimed, context)
    with session_scope(current.sessions) as session:
        next_at = delivery.record(session, delivery_id, outcome, context)
    if next_at is not None:
        enqueue_delivery(current.queue(), current.settings, delivery_id, next_at)
    return "delivered" if outcome.ok else f"failed: {outcome.error}"


def work_backlog(current: Runtime, until: float, failing: set[str] | None = None) -> int:
    """Attempt due deliveries in rounds until none is left or ``until`` passed; how many were attempted.

    A burst of events is then a few jobs' work rather than a job (and, with
    a forking worker, a process) per delivery; the jobs of deliveries
    attempted here find them done and return at once. Each round gives
    every endpoint a thread sending its deliveries in event order; an
    endpoint that fails is left alone for the rest of the job (its
    deliveries keep their own retry schedule), as are those in ``failing``.
    """
    worked, failing = 0, set(failing or ())
    while time.monotonic() < until:
        with session_scope(current.sessions) as session:
            groups = delivery.due_by_endpoint(session, utcnow(), BACKLOG_ROUND, BACKLOG_PER_ENDPOINT, failing)
        if not groups:
            break
        with ThreadPoolExecutor(min(BACKLOG_THREADS, len(groups)), thread_name_prefix="webhooks") as pool:
            results = list(pool.map(lambda group: _in_order(current, group[1], until), groups))
        for (endpoint_id, _), (attempted, failed) in zip(groups, results, strict=True):
            worked += attempted
            if failed:
                failing.add(endpoint_id)
    return worked


def _in_order(current: Runtime, delivery_ids: list[str], until: float) -> tuple[int, bool]:
    """Attempt one endpoint's deliveries in order until one fails or ``until`` passed: (attempted, failed)."""
    attempted = 0
    for delivery_id in delivery_ids:
        if time.monotonic() >= until:
            break
        result = attempt(current, delivery_id)
        attempted += result != "skipped"
        if result.startswith("failed"):
            return attempted, True
    return attempted, False


def dispatch_pending(config: Mapping[str, Any] | None = None, limit: int = 200) -> int:
    """Periodic: dispatch new events, enqueue their deliveries, re-enqueue lost ones. Returns jobs enqueued."""
    if config is not None and _configured.get("config") is None:
        configure(config, resolver=_configured.get("resolver"))
    current = runtime()
    queue = current.queue()
    with session_scope(current.sessions) as session:
        created = delivery.dispatch_events(session, utcnow(), limit)
    for delivery_id in created:
        enqueue_delivery(queue, current.settings, delivery_id)
    return len(created) + sweep(current, limit)


def dispatch_job() -> int:
    """RQ job form of :func:`dispatch_pending` (enqueue it after recording events for low latency)."""
    return dispatch_pending()


def sweep(current: Runtime, limit: int = 200) -> int:
    """Re-enqueue pending deliveries overdue by more than a lease (at most once per lease each)."""
    grace = timedelta(seconds=current.settings.lease_seconds)
    with session_scope(current.sessions) as session:
        overdue = delivery.due_deliveries(session, utcnow() - grace, limit)
    queue, count = current.queue(), 0
    for delivery_id in overdue:
        if current.redis.set(SWEEP_MARK + delivery_id, 1, nx=True, ex=int(current.settings.lease_seconds)):
            enqueue_delivery(queue, current.settings, delivery_id)
            count += 1
    if count:
        log.info("re-enqueued %d overdue webhook deliveries", count)
    return count
