"""The RQ queue of publish jobs: JSON serializer, deterministic ids, unique enqueue.

A new run's job is named ``publish-{run_id}-{fence}``: the job that will
claim the run at fence ``f``. Once it claims, the fence moves on and the
name of the following job changes with it, so :func:`enqueue_run` can be
called any number of times (API, job, sweeper) and there is at most one
live job per run and fence. Jobs carry only the run id; the database holds
everything else. RQ results are not kept (``result_ttl=0``): the job run's
status is read from the database.

Waiting runs get no job of their own: :func:`schedule_poller` makes sure a
*poller* job (``core.jobs.poll_due``) runs at the wake time, one per
second of wake times (``poll-{queue}-{epoch second}``), and that poller
works every run that is due (:mod:`core.jobs`). The sweeper's resumptions
(a lost job, an expired lease, a run queued while Redis was down) also go
to a poller (``poll-{queue}-now-{n}``) instead of one job per run.

A run's job that finds other fresh runs queued works them too (see
:func:`core.jobs.publish_run`) and discards their own jobs once it has
claimed them (:func:`discard_queued`), so a backlog of publishes costs one
RQ job per batch, not one per run.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import redis
from rq import Queue
from rq.exceptions import DuplicateJobError, NoSuchJobError
from rq.job import Job, JobStatus
from rq.serializers import JSONSerializer

JOB_FUNCTION = "core.jobs.publish_run"
POLL_FUNCTION = "core.jobs.poll_due"
POLL_GRAIN_S = 1
JOB_TIMEOUT_S = 900
FAILURE_TTL_S = 7 * 24 * 3600
_LIVE = frozenset({JobStatus.QUEUED, JobStatus.STARTED, JobStatus.DEFERRED, JobStatus.SCHEDULED})


def connect(redis_url: str) -> redis.Redis:
    return redis.Redis.from_url(redis_url)


def make_queue(connection: redis.Redis, name: str) -> Queue:
    return Queue(name, connection=connection, serializer=JSONSerializer)


def run_job_id(run_id: str, fence: int) -> str:
    return f"publish-{run_id}-{fence}"


def enqueue_run(queue: Queue, run_id: str, fence: int, at: datetime | None = None, *,
                description: str = "", overdue_after_s: float | None = None) -> bool:
    """Make sure the run will be worked on; ``True`` when this call created a job.

    Due now: the run's own job (the API's path). Due later: a poller at
    that time (:func:`schedule_poller`). With ``overdue_after_s`` (the
    sweeper's resumptions): nothing when the run's own job is still live,
    else a poller now, which works every due run.
    """
    job_id = run_job_id(run_id, fence)
    if at is not None and at > datetime.now(UTC):
        return schedule_poller(queue, at)
    if overdue_after_s is not None:
        existing = _fetch(queue, job_id)
        if existing is not None and _live(queue, existing, overdue_after_s):
            return False
        return enqueue_poller(queue)
    return _ensure(queue, job_id, JOB_FUNCTION, (run_id,), None, description or f"publish run {run_id}")


def schedule_poller(queue: Queue, at: datetime) -> bool:
    """A poller at ``at`` (rounded up to the second), shared by every run waking in that second."""
    slot = poller_slot(at)
    when = datetime.fromtimestamp(slot, UTC)
    return _ensure(queue, f"poll-{queue.name}-{slot}", POLL_FUNCTION, (), when,
                   f"poll publish runs due at {when.isoformat()}")


def poller_slot(at: datetime) -> int:
    """The epoch second of the poller that works runs waking at ``at`` (rounded up to the grain)."""
    return math.ceil(at.timestamp() / POLL_GRAIN_S) * POLL_GRAIN_S


def enqueue_poller(queue: Queue, helper: int = 0) -> bool:
    """A poller now; ``helper`` numbers extra pollers working the same backlog side by side."""
    return _ensure(queue, f"poll-{queue.name}-now-{helper}", POLL_FUNCTION, (), None,
                   "poll publish runs due now" + (f" (helper {helper})" if helper else ""))


def _ensure(queue: Queue, job_id: str, function: str, args: tuple[str, ...], at: datetime | None,
            description: str) -> bool:
    """Create job ``job_id`` unless a live one exists; a finished, failed or stopped one is replaced.

    RQ's unique enqueue checks and saves atomically (one round trip), so
    the existing job is only read when there is one.
    """
    if _enqueue_unique(queue, job_id, function, args, at, description):
        return True
    existing = _fetch(queue, job_id)
    if existing is not None and _live(queue, existing, None):
        return False
    if existing is not None:
        existing.delete()
    return _enqueue_unique(queue, job_id, function, args, at, description)


def _enqueue_unique(queue: Queue, job_id: str, function: str, args: tuple[str, ...], at: datetime | None,
                    description: str) -> bool:
    """Enqueue (or schedule) the job; ``False`` when a job with that id exists, whatever its state."""
    options = {"job_id": job_id, "unique": True, "description": description,
               "result_ttl": 0, "failure_ttl": FAILURE_TTL_S, "job_timeout": JOB_TIMEOUT_S}
    try:
        if at is None or at <= datetime.now(UTC):
            queue.enqueue(function, *args, **options)
        else:
            queue.enqueue_at(at, function, *args, **options)
    except DuplicateJobError:
        return False
    return True


def discard_queued(queue: Queue, job_id: str) -> bool:
    """Take job ``job_id`` off the queue unless a worker already took it; ``True`` when discarded.

    For a run's job made pointless because another job claimed the run
    (:func:`core.jobs.publish_run` working a backlog): removing it from the
    queue list first means no worker can start it, so its hash may go too.
    A job already taken by a worker is left alone (it finds the run claimed
    and does nothing).
    """
    if not queue.remove(job_id):
        return False
    queue.connection.delete(Job.key_for(job_id))
    return True


def _fetch(queue: Queue, job_id: str) -> Job | None:
    try:
        return Job.fetch(job_id, connection=queue.connection, serializer=queue.serializer)
    except NoSuchJobError:
        return None


def _live(queue: Queue, job: Job, overdue_after_s: float | None) -> bool:
    status = job.get_status(refresh=False)
    if status not in _LIVE:
        return False
    if status != JobStatus.SCHEDULED or overdue_after_s is None:
        return True
    try:
        due = queue.scheduled_job_registry.get_scheduled_time(job)
    except NoSuchJobError:
        return False
    return due > datetime.now(UTC) - timedelta(seconds=overdue_after_s)
