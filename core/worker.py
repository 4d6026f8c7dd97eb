"""The publish worker: an RQ worker with its scheduler, plus the sweeper thread.

``markaestro worker`` calls :func:`run_worker`; ``python -m core.worker``
does the same from the environment (tests and scripts).
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
from collections.abc import Mapping
from typing import Any

from rq import Worker
from rq.serializers import JSONSerializer

from . import jobs
from .channels import build_channels
from .sweeper import Sweeper, sweep_interval


def run_worker(config: Mapping[str, Any], burst: bool = False, *, worker_class: type[Worker] = Worker,
               name: str | None = None) -> bool:
    """Work the queue ``MARKAESTRO_QUEUE_NAME`` on ``MARKAESTRO_REDIS_URL`` until stopped.

    Runs RQ's scheduler (delayed polls and retries) and a sweeper that
    re-creates jobs from the database every ``MARKAESTRO_SWEEP_INTERVAL_SECONDS``.
    With ``burst``, sweeps once, works until the queue is empty, and returns
    whether any job ran.
    """
    jobs.configure(config, build_channels(config))
    ctx = jobs.pipeline_context()
    sweeper = Sweeper(ctx, sweep_interval(config))
    sweeper.run_once()
    if not burst:
        sweeper.start()
    worker = worker_class([ctx.queue], connection=ctx.queue.connection, serializer=JSONSerializer,
                          name=name or f"markaestro-{socket.gethostname()}-{os.getpid()}")
    try:
        return bool(worker.work(burst=burst, with_scheduler=True, logging_level="WARNING"))
    finally:
        sweeper.stop()


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
