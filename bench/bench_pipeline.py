"""Pipeline throughput: N posts published end to end against an instant fake platform.

Prints posts per second beside RQ's own no-op job throughput, measured in
the same run with the same worker count and worker class, the same way:
all the work is queued before the workers start, and the rate is taken
from the first job's start to the last one's end. Also prints the rate
with the publishes requested while the workers run (one client in this
process on the same cores: the API side's cost included). Figures are
printed, never asserted.

    .venv/bin/python bench/bench_pipeline.py --posts 300 --workers 2 [--worker-class rq.Worker]
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402

from core.db import make_engine, make_session_factory, session_scope  # noqa: E402
from core.migrate import upgrade  # noqa: E402
from core.queue import connect  # noqa: E402
from tests.services import postgres_admin_url, postgres_database  # noqa: E402

SECRET = "Qq7W7pD9N3vQ2eqk0oT2mYx8l2bq2cT7Xk1i4oQW7dE="
REDIS = "redis://127.0.0.1:6379/13"


def noop() -> None:
    """The baseline job."""


class PlatformProcess:
    """The fake platform served by a process of its own, as a real platform is (not sharing this one's GIL).

    Gunicorn's threaded worker keeps connections alive like a real
    platform's front end (Werkzeug's development server closes each one),
    so the workers' HTTP clients reuse their connections; one worker
    process, because the platform keeps its state in memory.
    """

    def __init__(self) -> None:
        port = _free_port()
        command = [str(Path(sys.executable).with_name("gunicorn")), "--bind", f"127.0.0.1:{port}", "--workers", "1",
                   "--worker-class", "gthread", "--threads", "32", "--keep-alive", "30", "--log-level", "warning",
                   "plugins.testing.fake_platform:create_app()"]
        self.process = subprocess.Popen(command, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
        self.url = f"http://127.0.0.1:{port}"
        _wait_for(f"{self.url}/_stats")

    def control(self, **behaviour: Any) -> None:
        requests.post(f"{self.url}/_control", json=behaviour, timeout=10).raise_for_status()

    def creating_calls(self) -> int:
        """Creating calls that created something, over every idempotency token."""
        return sum(requests.get(f"{self.url}/_stats", timeout=10).json()["created"].values())

    def close(self) -> None:
        self.process.kill()
        self.process.wait()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_for(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            requests.get(url, timeout=1).raise_for_status()
            return
        except requests.RequestException:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@contextmanager
def environment(extra: dict[str, str] | None = None) -> Iterator[tuple[dict[str, str], PlatformProcess]]:
    """A migrated database, a flushed Redis database and the fake platform; the settings as env."""
    platform = PlatformProcess()
    admin = postgres_admin_url()
    try:
        with (postgres_database(admin) if admin else _sqlite()) as url:
            upgrade(url)
            connect(REDIS).flushdb()
            env = {"MARKAESTRO_DATABASE_URL": url, "MARKAESTRO_REDIS_URL": REDIS, "MARKAESTRO_SECRET_KEY": SECRET,
                   "MARKAESTRO_LOAD_PLUGINS": "false", "MARKAESTRO_EXTRA_PLUGINS": "plugins.testing.fake_channel",
                   "MARKAESTRO_FAKE_API_URL": platform.url, "MARKAESTRO_QUEUE_NAME": "bench",
                   "MARKAESTRO_RATE_LIMIT": "off", "MARKAESTRO_SWEEP_INTERVAL_SECONDS": "5", **(extra or {}),
                   **_overrides()}
            yield env, platform
    finally:
        platform.close()


def _overrides() -> dict[str, str]:
    """``BENCH_ENV_*`` variables, without the prefix: settings to try without editing a benchmark."""
    return {key.removeprefix("BENCH_ENV_"): value for key, value in os.environ.items() if key.startswith("BENCH_ENV_")}


@contextmanager
def _sqlite() -> Iterator[str]:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        yield f"sqlite:///{folder}/bench.db"


def start_workers(count: int, env: dict[str, str], code: str) -> list[subprocess.Popen[bytes]]:
    """``count`` worker processes running ``code``, each in a session of its own.

    With ``$BENCH_PROFILE`` set to a folder, each runs under ``py-spy record
    --subprocesses`` (work horses included) and writes collapsed stacks there;
    summarise them with ``bench/profile_summary.py``.
    """
    full = {**os.environ, **env, "PYTHONPATH": str(ROOT)}
    return [subprocess.Popen([*_profiler(index), sys.executable, "-c", code], cwd=ROOT, env=full,
                             start_new_session=True, stdout=subprocess.DEVNULL, stderr=_log())
            for index in range(count)]


def _profiler(index: int) -> list[str]:
    folder = os.environ.get("BENCH_PROFILE")
    if not folder:
        return []
    Path(folder).mkdir(parents=True, exist_ok=True)
    output = Path(folder) / f"worker-{os.getpid()}-{index}-{time.monotonic_ns()}.txt"
    return [str(Path(sys.executable).with_name("py-spy")), "record", "--subprocesses", "--nonblocking",
            "--rate", "200", "--format", "raw", "-o", str(output), "--"]


def _log() -> Any:
    """Worker logs go to ``$BENCH_LOG`` when set (default: discarded)."""
    path = os.environ.get("BENCH_LOG")
    return open(path, "ab") if path else subprocess.DEVNULL


def stop(processes: list[subprocess.Popen[bytes]]) -> None:
    import signal
    from contextlib import suppress

    if os.environ.get("BENCH_PROFILE"):  # let py-spy write its samples first
        for process in processes:
            with suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGINT)
        for process in processes:
            with suppress(subprocess.TimeoutExpired):
                process.wait(timeout=30)
    for process in processes:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def pipeline_worker_code(worker_class: str) -> str:
    module, name = worker_class.rsplit(".", 1)
    return (f"import {module} as m; from core import create_app; from core.worker import run_worker; "
            f"run_worker(create_app().config, worker_class=m.{name})")


def seed_posts(env: dict[str, str], count: int) -> tuple[Any, list[str]]:
    """A workspace, a fake destination and ``count`` draft posts; returns the session factory and post ids."""
    from core.ids import new_id
    from core.models import Destination, Post
    from core.services import catalog
    from core.services.credentials import seal
    from plugins.types import Credentials

    sessions = make_session_factory(make_engine(env["MARKAESTRO_DATABASE_URL"]))
    with session_scope(sessions) as session:
        workspace = catalog.create_workspace(session, "bench")
        product = catalog.create_product(session, workspace.id, "bench")
        row = Destination(id=new_id("dst"), workspace_id=workspace.id, product_id=product.id, channel="fake",
                          provider="fake", account_id="acct", name="bench")
        row.credentials = seal(SECRET, row.id, Credentials(access_token="t"))
        session.add(row)
        posts = [Post(id=new_id("pst"), workspace_id=workspace.id, product_id=product.id, channel="fake",
                      destination_id=row.id, caption=f"post {i}", media_asset_ids=[], options={})
                 for i in range(count)]
        session.add_all(posts)
        return sessions, [p.id for p in posts]


def publish_all(env: dict[str, str], sessions: Any, post_ids: list[str]) -> list[str]:
    """Start every publish the way the API does (service + enqueue)."""
    from core.channels import build_channels
    from core.models import Post
    from core.queue import enqueue_run, make_queue
    from core.services.publishing import start_publish

    config: dict[str, Any] = dict(env)
    channels = build_channels({**config, "MARKAESTRO_LOAD_PLUGINS": False})
    config["MARKAESTRO_PUBLIC_URL"] = "http://media.bench"
    config["MARKAESTRO_MEDIA_DIR"] = "/tmp/bench-media"
    queue = make_queue(connect(REDIS), "bench")
    runs = []
    for post_id in post_ids:
        with sessions() as session:
            workspace = session.get(Post, post_id).workspace_id
            run = start_publish(session, channels, config, workspace, post_id)
            runs.append(run.id)
        enqueue_run(queue, run.id, 0)
    return runs


def wait_finished(sessions: Any, total: int, timeout: float) -> float:
    from sqlalchemy import func, select

    from core.models import JobRun

    start = time.monotonic()
    while time.monotonic() - start < timeout:
        with sessions() as session:
            done = session.scalar(select(func.count()).select_from(JobRun).where(
                JobRun.status.in_(("succeeded", "failed"))))
        if done == total:
            return time.monotonic()
        time.sleep(0.1)
    raise SystemExit(f"timed out: {done}/{total} runs finished")


def bench_pipeline(posts: int, workers: int, worker_class: str, *, upfront: bool) -> tuple[float, float]:
    """Posts per second, and the seconds the API-side publishing of every post took.

    ``upfront``: every publish is requested (run committed, job queued)
    before the workers start, as the no-op baseline's jobs are, and the rate
    is taken from the first claim to the last finished run (the database's
    timestamps), so it measures the workers alone. Otherwise the publishes
    are requested while the workers run and the rate is taken from the
    first request to the last finished run.
    """
    with environment() as (env, _):
        sessions, post_ids = seed_posts(env, posts)
        if upfront:
            started = timed(lambda: publish_all(env, sessions, post_ids))
        processes = start_workers(workers, env, pipeline_worker_code(worker_class))
        try:
            if upfront:
                wait_finished(sessions, posts, timeout=600)
                return posts / run_span(sessions), started
            time.sleep(2)  # let the workers start
            begin = time.monotonic()
            started = timed(lambda: publish_all(env, sessions, post_ids))
            return posts / (wait_finished(sessions, posts, timeout=600) - begin), started
        finally:
            stop(processes)


def timed(action: Any) -> float:
    begin = time.monotonic()
    action()
    return time.monotonic() - begin


def run_span(sessions: Any) -> float:
    """Seconds from the first run's first claim to the last run's end."""
    from sqlalchemy import func, select

    from core.models import JobRun

    with sessions() as session:
        first, last = session.execute(select(func.min(JobRun.started_at), func.max(JobRun.finished_at))).one()
    return float((last - first).total_seconds())


def bench_noop(jobs: int, workers: int, worker_class: str) -> float:
    """RQ's own rate for no-op jobs all queued before the workers start: first start to last end."""
    from rq import Queue
    from rq.serializers import JSONSerializer

    connection = connect(REDIS)
    connection.flushdb()
    module, name = worker_class.rsplit(".", 1)
    code = (f"import bench.bench_pipeline; import {module} as m; "
            "from rq.serializers import JSONSerializer; import redis; "
            f"c = redis.Redis.from_url('{REDIS}'); "
            f"m.{name}(['noop'], connection=c, serializer=JSONSerializer).work(logging_level='WARNING')")
    queue = Queue("noop", connection=connection, serializer=JSONSerializer)
    queued = [queue.enqueue("bench.bench_pipeline.noop", result_ttl=600) for _ in range(jobs)]
    processes = start_workers(workers, {}, code)
    try:
        while queue.finished_job_registry.count < jobs:
            time.sleep(0.05)
    finally:
        stop(processes)
    for job in queued:
        job.refresh()
    first = min(job.started_at for job in queued if job.started_at)
    last = max(job.ended_at for job in queued if job.ended_at)
    return jobs / (last - first).total_seconds()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--posts", type=int, default=300)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--worker-class", default="rq.Worker")
    args = parser.parse_args()
    pipeline, started = bench_pipeline(args.posts, args.workers, args.worker_class, upfront=True)
    fed, _ = bench_pipeline(args.posts, args.workers, args.worker_class, upfront=False)
    baseline = bench_noop(args.posts, args.workers, args.worker_class)
    print(f"workers: {args.workers} x {args.worker_class}, posts: {args.posts}")
    print(f"pipeline: {pipeline:8.1f} posts/s (claim, intent, creating call, checkpoint, finish), every publish "
          f"requested before the workers start ({started:.1f} s of API-side work in this process), "
          "first claim to last finish")
    print(f"rq no-op: {baseline:8.1f} jobs/s, every job queued before the workers start, first start to last end")
    print(f"ratio:    {pipeline / baseline:8.2f} (target >= 0.5)")
    print(f"end to end with publishing requested while the workers run (one client in this process, same "
          f"2 cores): {fed:.1f} posts/s")


if __name__ == "__main__":
    main()
