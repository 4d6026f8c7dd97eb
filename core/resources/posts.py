"""Posts: create, get, list, edit and cancel (spec §2.4)."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import current_app
from flask.views import MethodView

from ..auth import current_workspace_id
from ..channels import current_channels
from ..db_session import get_session
from ..extensions import Blueprint
from ..pagination import PageArgs
from ..services import posts
from ..services.post_checks import PostContext
from ..services.post_documents import post_document, post_documents
from ..storage import current_storage
from .fields import Output, Timestamp, page_schema

blp = Blueprint("posts", __name__, url_prefix="/posts", description="Posts: drafts, scheduled posts and their results")

POST_STATUSES = list(posts.STATUSES)
TARGET_STATUSES = ["pending", "publishing", "published", "exported_for_review", "skipped", "failed",
                   "needs_reconcile"]
NEXT_ACTIONS = ["open_tiktok_inbox_and_complete_editing", "reconnect_destination"]


def _timestamp(**kwargs: Any) -> ma.fields.String:
    """An RFC 3339 UTC timestamp already formatted by the document builder."""
    return ma.fields.String(metadata={"format": "date-time", "example": "2026-04-08T18:06:10.000Z"}, **kwargs)


class PostCreateSchema(ma.Schema):
    channel = ma.fields.String(required=True, metadata={"example": "instagram"})
    caption = ma.fields.String(load_default="")
    media_asset_ids = ma.fields.List(ma.fields.String(), data_key="mediaAssetIds", load_default=list,
                                     validate=ma.validate.Length(max=100),
                                     metadata={"description": "media asset ids, in publishing order"})
    product_id = ma.fields.String(required=True, data_key="productId", metadata={"example": "prod_123"})
    destination_id = ma.fields.String(
        data_key="destinationId", load_default=None, allow_none=True,
        metadata={"description": "may be left out when the product has exactly one connected destination "
                                 "on the channel", "example": "instagram:instagram:ig_123"})
    scheduled_at = Timestamp(data_key="scheduledAt", load_default=None, allow_none=True,
                             metadata={"description": "RFC 3339 with an offset; in the future"})
    options = ma.fields.Dict(keys=ma.fields.String(), load_default=dict,
                             metadata={"description": "channel-specific settings, validated by the channel"})


class PostPatchSchema(ma.Schema):
    """Fields to change; absent fields keep their value."""

    caption = ma.fields.String()
    media_asset_ids = ma.fields.List(ma.fields.String(), data_key="mediaAssetIds",
                                     validate=ma.validate.Length(max=100))
    options = ma.fields.Dict(keys=ma.fields.String())
    scheduled_at = Timestamp(data_key="scheduledAt", allow_none=True,
                             metadata={"description": "null unschedules the post (it becomes a draft)"})
    destination_id = ma.fields.String(data_key="destinationId", allow_none=True,
                                      metadata={"description": "null picks the only connected destination"})


class PostListArgs(PageArgs):
    status = ma.fields.String(validate=ma.validate.OneOf(POST_STATUSES), load_default=None)
    product_id = ma.fields.String(data_key="productId", load_default=None)
    channel = ma.fields.String(load_default=None)


class PublishErrorSchema(Output):
    code = ma.fields.String()
    message = ma.fields.String()
    retryable = ma.fields.Boolean()
    platformCode = ma.fields.String(allow_none=True)


class PublishResultSchema(Output):
    target = ma.fields.String(metadata={"example": "tiktok:tiktok:tt_open_123"})
    status = ma.fields.String(metadata={"enum": TARGET_STATUSES})
    externalId = ma.fields.String(allow_none=True)
    url = ma.fields.String(allow_none=True)
    error = ma.fields.Nested(PublishErrorSchema, allow_none=True)
    updatedAt = _timestamp()


class PostSchema(Output):
    id = ma.fields.String(metadata={"example": "pst_123"})
    productId = ma.fields.String()
    channel = ma.fields.String()
    destinationId = ma.fields.String()
    caption = ma.fields.String()
    mediaAssetIds = ma.fields.List(ma.fields.String())
    options = ma.fields.Dict()
    status = ma.fields.String(metadata={"enum": POST_STATUSES})
    scheduledAt = _timestamp(allow_none=True)
    createdAt = _timestamp()
    updatedAt = _timestamp()
    latestJobRunId = ma.fields.String(allow_none=True)
    publishResults = ma.fields.List(ma.fields.Nested(PublishResultSchema))
    nextAction = ma.fields.String(allow_none=True, metadata={"enum": [*NEXT_ACTIONS, None]})


def _context() -> PostContext:
    config = current_app.config
    return PostContext(current_channels(), config["MARKAESTRO_PUBLIC_URL"], current_storage())


@blp.route("")
class Posts(MethodView):
    @blp.arguments(PostCreateSchema)
    @blp.response(201, PostSchema)
    @blp.errors(400, 422)
    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """Create a draft, or a scheduled post when `scheduledAt` is given.

        The post is validated against its channel's rules; a violation is a
        422 `validation_failed` naming the rule, the limit and the value, and
        nothing is created. Without `destinationId` the product's only
        connected destination on the channel is used; when there is none or
        more than one the answer is 422 `destination_required`. An unknown
        `productId` is a 422 on that field.
        """
        new = posts.NewPost(**{**body, "media_asset_ids": tuple(body["media_asset_ids"])})
        session = get_session()
        return post_document(session, posts.create_post(session, _context(), current_workspace_id(), new))

    @blp.arguments(PostListArgs, location="query", unknown=ma.RAISE)  # a misspelt filter must not list all
    @blp.response(200, page_schema(PostSchema, "PostPage"))
    @blp.errors(400)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """List the workspace's posts, newest first, optionally filtered by status, product and channel."""
        filters = posts.PostFilters(args["status"], args["product_id"], args["channel"])
        session = get_session()
        rows, cursor = posts.list_posts(session, current_workspace_id(), filters, args["limit"], args["cursor"])
        return {"data": post_documents(session, rows), "nextCursor": cursor}


@blp.route("/<post_id>")
class PostById(MethodView):
    @blp.response(200, PostSchema)
    @blp.errors(404)
    def get(self, post_id: str) -> dict[str, Any]:
        """Get a post with its status, publish results and any follow-up action."""
        session = get_session()
        return post_document(session, posts.get_post(session, current_workspace_id(), post_id))

    @blp.arguments(PostPatchSchema)
    @blp.response(200, PostSchema)
    @blp.errors(400, 404, 409, 422)
    def patch(self, changes: dict[str, Any], post_id: str) -> dict[str, Any]:
        """Edit a draft or scheduled post (409 `post_not_editable` otherwise), validated like a new one.

        `scheduledAt: null` unschedules the post (it becomes a draft);
        a time schedules it.
        """
        session = get_session()
        post = posts.update_post(session, _context(), current_workspace_id(), post_id, changes)
        return post_document(session, post)

    @blp.response(200, PostSchema)
    @blp.errors(404, 409)
    def delete(self, post_id: str) -> dict[str, Any]:
        """Cancel a draft or scheduled post (status `canceled`); 409 `post_not_cancelable` otherwise."""
        session = get_session()
        return post_document(session, posts.cancel_post(session, current_workspace_id(), post_id))
