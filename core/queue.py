"""The RQ queue of publish jobs: JSON serializer, deterministic ids, unique enqueue.

A run's next job is named ``publish-{run_id}-{fence}``: the job that will
claim the run at fence ``f``. Once it claims, the fence moves on and the
name of the following job changes with it, so :func:`enqueue_run` can be
called any number of times (API, job, sweeper) and there is at most one
live job per run and fence. Jobs carry only the run id; the database holds
everything else. RQ results are not kept (``result_ttl=0``): the job run's
status is read from the database.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import redis
from rq import Queue
from rq.exceptions import DuplicateJobError, NoSuchJobError
from rq.job import Job, JobStatus
from rq.serializers import JSONSerializer

JOB_FUNCTION = "core.jobs.publish_run"
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
    """Make sure the run's next job exists; ``True`` when this call created it.

    A job that finished, failed or was stopped is replaced. A scheduled job
    more than ``overdue_after_s`` late (its scheduler died) is replaced by
    one queued now.
    """
    job_id = run_job_id(run_id, fence)
    existing = _fetch(queue, job_id)
    if existing is not None and _live(queue, existing, overdue_after_s):
        return False
    if existing is not None:
        existing.delete()
    options = {"job_id": job_id, "unique": True, "description": description or f"publish run {run_id}",
               "result_ttl": 0, "failure_ttl": FAILURE_TTL_S, "job_timeout": JOB_TIMEOUT_S}
    try:
        if at is None or at <= datetime.now(UTC):
            queue.enqueue(JOB_FUNCTION, run_id, **options)
        else:
            queue.enqueue_at(at, JOB_FUNCTION, run_id, **options)
    except DuplicateJobError:
        return False
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
