"""``POST /posts/{id}/publish`` (spec §2.5): queue an asynchronous publish run."""

from __future__ import annotations

from typing import Any

from flask import current_app
from flask.views import MethodView
from rq import Queue

from ..auth import current_workspace_id
from ..channels import current_channels
from ..db_session import get_session
from ..extensions import Blueprint
from ..queue import connect, enqueue_run, make_queue
from ..services.publishing import enqueue_quietly, start_publish
from ..services.publishing_documents import run_document
from .job_runs import JobRunSchema

blp = Blueprint("publishing", __name__, url_prefix="/posts", description="Publishing posts")


def current_queue() -> Queue:
    """The app's publish queue (one Redis client per app)."""
    queue: Queue | None = current_app.extensions.get("markaestro.queue")
    if queue is None:
        config = current_app.config
        queue = make_queue(connect(config["MARKAESTRO_REDIS_URL"]), config["MARKAESTRO_QUEUE_NAME"])
        current_app.extensions["markaestro.queue"] = queue
    return queue


@blp.route("/<post_id>/publish")
class PublishPost(MethodView):
    @blp.response(202, JobRunSchema)
    @blp.errors(404, 409, 422)
    def post(self, post_id: str) -> dict[str, Any]:
        """Queue a publish run for the post.

        Answers `202` with the job run in status `queued`; the post moves to
        `publishing`. A post that is `publishing`, `published` or `canceled`
        is `409` (`code: post_not_publishable`). A `failed` or
        `partially_published` post may be published again: only its targets
        not yet published are attempted. The post is validated against its
        channel's rules again (`422`); a fan-out target whose channel rejects
        the post is `skipped` with the reason. If the queue is unreachable
        the run stays `queued` and is picked up by the worker's sweeper.
        """
        session = get_session()
        run = start_publish(session, current_channels(), current_app.config, current_workspace_id(), post_id)
        queue = current_queue()
        enqueue_quietly(lambda run_id, fence: enqueue_run(
            queue, run_id, fence, description=f"publish post {post_id} (run {run_id}): first step"), run)
        return run_document(session, run)
