"""Routes for job runs (being built)."""

from __future__ import annotations

from ..extensions import Blueprint

blp = Blueprint("job_runs", __name__, url_prefix="/job-runs", description="job runs")
