"""Media uploads and lookups (spec §2.3)."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import current_app, request
from flask.views import MethodView

from ..auth import current_workspace_id
from ..db_session import get_session
from ..extensions import Blueprint
from ..models import MediaAsset
from ..services import media
from ..services.convert import hosted_url
from ..storage import current_storage
from .fields import Output, Timestamp

blp = Blueprint("media", __name__, url_prefix="/media", description="Media uploads, hosted at public URLs")

UPLOAD_BODY = {
    "required": True,
    "description": "One file part named `file`. Its type is decided from its bytes: JPEG, PNG, WebP, GIF, "
                   "MP4 or QuickTime; anything else is 415.",
    "content": {"multipart/form-data": {"schema": {
        "type": "object", "required": ["file"],
        "properties": {"file": {"type": "string", "format": "binary"}},
    }}},
}


class MediaSchema(Output):
    id = ma.fields.String(metadata={"example": "ast_123"})
    url = ma.fields.String(metadata={"description": "public hosted URL (unguessable)"})
    kind = ma.fields.String(metadata={"enum": ["image", "video"]})
    mimeType = ma.fields.String(metadata={"example": "image/jpeg"})
    sizeBytes = ma.fields.Integer()
    width = ma.fields.Integer(allow_none=True)
    height = ma.fields.Integer(allow_none=True)
    durationSeconds = ma.fields.Float(allow_none=True)
    sha256 = ma.fields.String()
    filename = ma.fields.String(metadata={"description": "the client's file name, as metadata only"})
    createdAt = Timestamp()


def _document(asset: MediaAsset) -> dict[str, Any]:
    return {
        "id": asset.id, "url": hosted_url(current_app.config["MARKAESTRO_PUBLIC_URL"], asset),
        "kind": asset.kind, "mimeType": asset.mime_type, "sizeBytes": asset.size_bytes,
        "width": asset.width, "height": asset.height, "durationSeconds": asset.duration_seconds,
        "sha256": asset.sha256, "filename": asset.filename, "createdAt": asset.created_at,
    }


@blp.route("")
class Media(MethodView):
    @blp.doc(requestBody=UPLOAD_BODY)
    @blp.response(201, MediaSchema)
    @blp.errors(400, 413, 415, 422)
    def post(self) -> dict[str, Any]:
        """Upload an image or video (streamed; the upload cap is MARKAESTRO_MAX_UPLOAD_BYTES)."""
        upload = media.UploadRequest(request.stream, request.headers.get("Content-Type"), request.content_length)
        asset = media.upload(get_session(), current_storage(), current_workspace_id(), upload,
                             current_app.config["MARKAESTRO_MAX_UPLOAD_BYTES"])
        return _document(asset)


@blp.route("/<asset_id>")
class MediaById(MethodView):
    @blp.response(200, MediaSchema)
    @blp.errors(404)
    def get(self, asset_id: str) -> dict[str, Any]:
        """Get one media asset."""
        return _document(media.get_asset(get_session(), current_workspace_id(), asset_id))
