"""The public document of a job run (spec §2.6); publish results come from :mod:`.post_documents`."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..models import JobRun, JobStep
from .errors import get_owned


def get_run(session: Session, workspace_id: str, run_id: str) -> JobRun:
    """The run, or the same 404 whether it is missing or another workspace's."""
    return get_owned(session, JobRun, workspace_id, run_id, "job run")


def run_document(session: Session, run: JobRun) -> dict[str, Any]:
    """The job run with its step timeline, read from the database only."""
    steps = session.scalars(select(JobStep).where(JobStep.run_id == run.id).order_by(JobStep.id))
    return {
        "id": run.id, "postId": run.post_id, "kind": run.kind, "status": run.status,
        "createdAt": run.created_at, "startedAt": run.started_at, "finishedAt": run.finished_at,
        "attempts": run.attempts, "error": run.error,
        "steps": [{"target": s.target, "name": s.name, "status": s.status, "startedAt": s.started_at,
                   "finishedAt": s.finished_at, "detail": s.detail} for s in steps],
    }
