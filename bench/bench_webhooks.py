"""Webhook delivery throughput: events delivered per second to a loopback receiver.

Runs, in one go and against the same werkzeug receiver on 127.0.0.1:
1. N events delivered by 2 RQ ``Worker`` processes (a forked work horse per job, the default), from
   ``dispatch_pending`` until every delivery is recorded ``delivered`` in the database;
2. the same with 2 ``SimpleWorker`` processes (no fork per job);
3. a plain ``requests.post`` loop sending N bodies of the same size (the floor of "just HTTP").

PostgreSQL at 127.0.0.1:5432 when reachable, else SQLite; Redis at 127.0.0.1:6379 db 0
(a queue of its own, removed afterwards; nothing is flushed).

    .venv/bin/python bench/bench_webhooks.py [N]
"""

from __future__ import annotations

import logging
import os
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from pathlib import Path

import requests
from redis import Redis
from rq import Worker
from sqlalchemy import func, select
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.db import make_engine, make_session_factory, session_scope  # noqa: E402
from core.migrate import upgrade  # noqa: E402
from core.models import Event, WebhookDelivery  # noqa: E402
from core.services import catalog, webhooks  # noqa: E402
from core.services.events import record_event  # noqa: E402
from core.webhooks import jobs  # noqa: E402
from core.webhooks.ssrf import system_resolver  # noqa: E402
from tests.services import postgres_admin_url, postgres_database  # noqa: E402

REDIS_URL = "redis://127.0.0.1:6379/0"
SECRET_KEY = "Qq7W7pD9N3vQ2eqk0oT2mYx8l2bq2cT7Xk1i4oQW7dE="


class Counter:
    def __init__(self) -> None:
        self.count = 0
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        Request(environ).get_data()
        with self.lock:
            self.count += 1
        return Response(b"ok")(environ, start_response)


def serve(counter: Counter) -> tuple[str, object]:
    server = make_server("127.0.0.1", 0, counter, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_port}/hook", server


def start_workers(config: dict, worker_class: str, count: int, log_dir: Path) -> list[subprocess.Popen]:
    env = {**os.environ, **{k: str(v) for k, v in config.items() if k.startswith("MARKAESTRO_")}}
    command = [sys.executable, __file__, "--worker", worker_class]
    return [subprocess.Popen(command, env=env, cwd=ROOT, stdout=open(log_dir / f"w{i}.log", "wb"),
                             stderr=subprocess.STDOUT) for i in range(count)]


def wait_registered(redis: Redis, queue_name: str, count: int) -> None:
    while len([w for w in Worker.all(connection=redis) if queue_name in w.queue_names()]) < count:
        time.sleep(0.05)


def delivered(sessions) -> int:
    with session_scope(sessions) as session:
        return int(session.scalar(select(func.count()).select_from(WebhookDelivery)
                                  .where(WebhookDelivery.status == "delivered")) or 0)


def run_workers(config, sessions, workspace_id: str, n: int, worker_class: str, log_dir: Path) -> float:
    """Events per second from dispatch to all delivered, with 2 worker processes."""
    redis = Redis.from_url(REDIS_URL)
    workers = start_workers(config, worker_class, 2, log_dir)
    try:
        wait_registered(redis, config["MARKAESTRO_WEBHOOK_QUEUE_NAME"], 2)
        before = delivered(sessions)
        with session_scope(sessions) as session:
            for i in range(n):
                record_event(session, workspace_id, "post.published", {"postId": f"pst_{i}", "channel": "fake"})
        started = time.perf_counter()
        jobs.dispatch_pending(limit=n)
        while delivered(sessions) - before < n:
            time.sleep(0.01)
        return n / (time.perf_counter() - started)
    finally:
        for worker in workers:
            worker.kill()
            worker.wait()


def plain_loop(url: str, body: bytes, n: int) -> float:
    with requests.Session() as http:
        started = time.perf_counter()
        for _ in range(n):
            http.post(url, data=body, headers={"Content-Type": "application/json"}, timeout=10).raise_for_status()
        return n / (time.perf_counter() - started)


def main() -> None:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        admin = postgres_admin_url()
        url = stack.enter_context(postgres_database(admin)) if admin else f"sqlite:///{tmp / 'bench.db'}"
        upgrade(url)
        queue_name = f"bench-webhooks-{secrets.token_hex(4)}"
        config = {"MARKAESTRO_DATABASE_URL": url, "MARKAESTRO_REDIS_URL": REDIS_URL,
                  "MARKAESTRO_SECRET_KEY": SECRET_KEY,
                  "MARKAESTRO_WEBHOOK_ALLOW_PRIVATE": "true", "MARKAESTRO_WEBHOOK_QUEUE_NAME": queue_name,
                  "MARKAESTRO_INSTANCE_PATH": str(tmp)}
        jobs.configure(jobs_config(config, tmp))
        engine = make_engine(url)
        sessions = make_session_factory(engine)
        counter = Counter()
        hook_url, server = serve(counter)
        with session_scope(sessions) as session:
            workspace = catalog.create_workspace(session, "bench")
            webhooks.create_endpoint(session, workspace.id, hook_url, None, "bench", secret_keys=SECRET_KEY,
                                     resolver=system_resolver, allow_private=True)
        try:
            forking = run_workers(config, sessions, workspace.id, n, "rq.worker.Worker", tmp)
            simple = run_workers(config, sessions, workspace.id, n, "rq.worker.SimpleWorker", tmp)
            with session_scope(sessions) as session:
                body = session.scalars(select(Event.payload).limit(1)).one().encode()
            plain = plain_loop(hook_url, body, n)
        finally:
            server.shutdown()
            Redis.from_url(REDIS_URL).delete(f"rq:queue:{queue_name}")
            jobs.configure(None)
            engine.dispose()
        backend = url.split(":", 1)[0]
        print(f"webhook delivery, {n} events, receiver on 127.0.0.1, database {backend}")
        print(f"  2 rq workers (fork per job):   {forking:8.1f} events/s")
        print(f"  2 rq SimpleWorkers (no fork):  {simple:8.1f} events/s")
        print(f"  plain requests.post loop:      {plain:8.1f} posts/s")
        print(f"  receiver saw {counter.count} requests")


def worker_main(worker_class: str) -> None:
    """A worker process as ``core/worker.py`` should run one: modules imported and configured before forking."""
    from rq.serializers import JSONSerializer
    from rq.utils import import_attribute

    jobs.configure(jobs.environment_config())
    current = jobs.runtime()
    worker = import_attribute(worker_class)([current.queue()], connection=current.redis, serializer=JSONSerializer)
    worker.work(logging_level="WARNING")


def jobs_config(config: dict, tmp: Path) -> dict:
    os.environ.update({k: v for k, v in config.items()})
    return jobs.environment_config()


if __name__ == "__main__":
    if sys.argv[1:2] == ["--worker"]:
        worker_main(sys.argv[2])
    else:
        main()
