"""``GET /job-runs/{id}`` (spec §2.6): a run's status and step timeline, from the database."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask.views import MethodView

from ..auth import current_workspace_id
from ..db_session import get_session
from ..extensions import Blueprint
from ..services.publishing_documents import get_run, run_document
from .fields import Output, Timestamp

blp = Blueprint("job_runs", __name__, url_prefix="/job-runs", description="Job runs")


class JobStepSchema(Output):
    target = ma.fields.String(metadata={"example": "tiktok:tiktok:tt_open_123"})
    name = ma.fields.String(metadata={"example": "upload"})
    status = ma.fields.String(metadata={"enum": ["running", "succeeded", "failed", "retrying", "unknown",
                                                 "interrupted"]})
    startedAt = Timestamp()
    finishedAt = Timestamp(allow_none=True)
    detail = ma.fields.String()


class JobRunSchema(Output):
    id = ma.fields.String(metadata={"example": "run_123"})
    postId = ma.fields.String()
    kind = ma.fields.String(metadata={"enum": ["publish"]})
    status = ma.fields.String(metadata={"enum": ["queued", "running", "succeeded", "failed"]})
    createdAt = Timestamp()
    startedAt = Timestamp(allow_none=True)
    finishedAt = Timestamp(allow_none=True)
    attempts = ma.fields.Integer()
    error = ma.fields.Dict(allow_none=True, metadata={"description": "why the run failed: code, message, targets"})
    steps = ma.fields.List(ma.fields.Nested(JobStepSchema))


@blp.route("/<run_id>")
class JobRunById(MethodView):
    @blp.response(200, JobRunSchema)
    @blp.errors(404)
    def get(self, run_id: str) -> dict[str, Any]:
        """Get a job run with its step timeline (one entry per platform step)."""
        session = get_session()
        return run_document(session, get_run(session, current_workspace_id(), run_id))
