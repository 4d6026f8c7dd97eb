"""Polling: publishes whose platform confirms after 30 s, with 2 workers.

Waiting never holds a worker, so the whole batch should complete within
30 s plus about two poll intervals. By default every publish is requested
(run committed, job queued) before the workers start, and the batch is
timed from the first claim to the last finished run; ``--while-working``
requests them while the workers run instead (one client in this process,
on the same cores) and times from the first request. Prints the figures
beside the target; never asserts.

    .venv/bin/python bench/bench_polling.py --posts 2000 --workers 2 --poll-interval 5 [--while-working]

Also prints when the last creating call was recorded, and how long runs took
from their creating call to their end (the platform's 30 s plus the polls' lag).
Any ``BENCH_ENV_<SETTING>`` variable sets ``<SETTING>`` for the workers.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_pipeline import (
    environment,
    pipeline_worker_code,
    publish_all,
    run_span,
    seed_posts,
    start_workers,
    stop,
    timed,
    wait_finished,
)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--posts", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--processing", type=float, default=30.0, help="seconds until the platform confirms")
    parser.add_argument("--poll-interval", type=float, default=5.0, help="MARKAESTRO_POLL_INTERVAL_SECONDS")
    parser.add_argument("--worker-class", default="rq.Worker")
    parser.add_argument("--create-latency", type=float, default=0.0,
                        help="seconds the platform takes to answer a creating call")
    parser.add_argument("--concurrency", type=int, default=None, help="MARKAESTRO_WORKER_CONCURRENCY")
    parser.add_argument("--while-working", action="store_true", help="request the publishes while workers run")
    parser.add_argument("--timeout", type=float, default=240.0, help="give up after this many seconds")
    args = parser.parse_args()
    extra = {"MARKAESTRO_POLL_INTERVAL_SECONDS": str(args.poll_interval)}
    if args.concurrency is not None:
        extra["MARKAESTRO_WORKER_CONCURRENCY"] = str(args.concurrency)
    with environment(extra) as (env, platform):
        platform.control(processing_s=args.processing, create_delay_s=args.create_latency)
        sessions, post_ids = seed_posts(env, args.posts)
        queued = 0.0 if args.while_working else timed(lambda: publish_all(env, sessions, post_ids))
        processes = start_workers(args.workers, env, pipeline_worker_code(args.worker_class))
        try:
            if args.while_working:
                time.sleep(2)
                start = time.monotonic()
                queued = timed(lambda: publish_all(env, sessions, post_ids))
                elapsed = wait_finished(sessions, args.posts, timeout=args.timeout) - start
            else:
                wait_finished(sessions, args.posts, timeout=args.timeout)
                elapsed = run_span(sessions)
        finally:
            stop(processes)
        outcomes, latencies, requested = run_figures(sessions)
        handed, after_create = creating_figures(sessions)
        created = platform.creating_calls()
    target = args.processing + 2 * args.poll_interval
    print(f"posts: {args.posts}, workers: {args.workers} x {args.worker_class}, poll interval {args.poll_interval} s, "
          f"creating calls answered after {args.create_latency} s, concurrency {args.concurrency or 'default'}")
    when = "while the workers ran" if args.while_working else "before the workers started"
    print(f"every publish requested {when}: {queued:.1f} s of API-side work in this process")
    since = "the first request" if args.while_working else "the first claim"
    print(f"all runs finished {elapsed:.1f} s after {since}; target {target:.1f} s (processing + two poll intervals); "
          f"ratio {elapsed / target:.2f}")
    print(f"every creating call recorded {handed:.1f} s after the first claim; from its creating call, a run "
          f"finished after p50 {after_create[len(after_create) // 2]:.1f} s, max {after_create[-1]:.1f} s "
          f"(the platform's {args.processing:.0f} s and the polls)")
    print(f"per run, first claim to finish: p50 {latencies[len(latencies) // 2]:.1f} s, "
          f"p95 {latencies[int(len(latencies) * 0.95)]:.1f} s, max {latencies[-1]:.1f} s; target {target:.1f} s")
    print(f"per run, publish request to finish: p50 {requested[len(requested) // 2]:.1f} s, "
          f"p95 {requested[int(len(requested) * 0.95)]:.1f} s, max {requested[-1]:.1f} s; target {target:.1f} s")
    print(f"runs: {outcomes}; creating calls: {created}")


def creating_figures(sessions: Any) -> tuple[float, list[float]]:
    """Seconds from the first claim to the last creating call recorded; each run's seconds from then to its end.

    A run's creating call is its first step to finish.
    """
    from sqlalchemy import func, select

    from core.models import JobRun, JobStep

    created = (select(JobStep.run_id, func.min(JobStep.finished_at).label("at"))
               .group_by(JobStep.run_id).subquery())
    with sessions() as session:
        first = session.scalar(select(func.min(JobRun.started_at)))
        rows = session.execute(select(created.c.at, JobRun.finished_at)
                               .join(JobRun, JobRun.id == created.c.run_id)).all()
    if first is None or not rows:
        return float("nan"), [float("nan")]
    last = max(at for at, _ in rows)
    return (last - first).total_seconds(), sorted((end - at).total_seconds() for at, end in rows if end)


def run_figures(sessions: Any) -> tuple[dict[str, int], list[float], list[float]]:
    """Runs per status, and each run's seconds from its first claim, and from its creation, to its end (sorted)."""
    from sqlalchemy import select

    from core.models import JobRun

    with sessions() as session:
        rows = session.execute(select(JobRun.status, JobRun.created_at, JobRun.started_at, JobRun.finished_at)).all()
    outcomes: dict[str, int] = {}
    for status, *_ in rows:
        outcomes[status] = outcomes.get(status, 0) + 1
    latencies = sorted((end - begin).total_seconds() for _, _, begin, end in rows if begin and end)
    requested = sorted((end - created).total_seconds() for _, created, _, end in rows if created and end)
    return outcomes, latencies or [float("nan")], requested or [float("nan")]


if __name__ == "__main__":
    main()
