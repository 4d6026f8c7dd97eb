"""Hosted media URLs: ``{MARKAESTRO_PUBLIC_URL}/media/<storage key>``.

Public and unauthenticated (platforms fetch these URLs), unguessable (the
key holds 128 random bits), and served only for keys of stored assets or
renditions, with the type detected at upload (an allowlist of image and
video types: never HTML), ``nosniff``, a sandboxing CSP, a SHA-256 ETag with
``If-None-Match`` → 304, ``HEAD`` and single byte ``Range`` (206, 416).
"""

from __future__ import annotations

from flask import Blueprint, Flask, Response, request
from werkzeug.exceptions import RequestedRangeNotSatisfiable
from werkzeug.wrappers import Response as BaseResponse
from werkzeug.wsgi import wrap_file

from .db_session import get_session
from .errors import NotFound
from .services.media import hosted_object
from .storage import current_storage, storage_from_config

bp = Blueprint("hosting", __name__)

#: Stored bytes never change under a key, so caches may keep them.
CACHE_CONTROL = "public, max-age=31536000, immutable"


@bp.route("/media/<path:storage_key>", methods=["GET"])
def serve(storage_key: str) -> BaseResponse:
    """Stream the bytes stored under ``storage_key`` (GET and HEAD)."""
    hosted = hosted_object(get_session(), storage_key)
    if hosted is None:
        raise NotFound("No media at this URL.")
    storage = current_storage()
    response = Response(wrap_file(request.environ, storage.open(hosted.storage_key)),
                        mimetype=hosted.mime_type, direct_passthrough=True)
    response.content_length = storage.size(hosted.storage_key)
    response.set_etag(hosted.sha256)
    response.headers["Content-Disposition"] = f'inline; filename="{hosted.download_name}"'
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response.headers["Cache-Control"] = CACHE_CONTROL
    try:
        return response.make_conditional(request.environ, accept_ranges=True,
                                         complete_length=response.content_length)
    except RequestedRangeNotSatisfiable:
        response.close()
        raise


def init_app(app: Flask) -> None:
    app.extensions.setdefault("markaestro.storage", storage_from_config(app.config))
    app.register_blueprint(bp)
