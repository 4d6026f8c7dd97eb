"""The sandbox's chunk upload URL (platforms.md §4.4, media transfer guide).

``PUT /upload/video/?upload_id=&upload_token=`` with ``Content-Type`` a
video type, ``Content-Length`` and ``Content-Range: bytes {first}-{last}/{total}``.
Chunks must arrive in order and match the plan given at init: 206 and
``Content-Range: bytes 0-{last}/{total}`` while more are expected, 201 after
the final one; 400 for malformed headers or a length mismatch, 403 once the
URL expired (one hour), 404 for an unknown task, 416 when the range does not
continue the bytes received (its ``Content-Range`` says how far TikTok got).
Bodies are counted as they stream in, never kept.
"""

from __future__ import annotations

import re

from flask import Blueprint, Response, request

from .common import apply_fault, state
from .state import Publish

bp = Blueprint("tiktok_upload", __name__)

VIDEO_TYPES = {"video/mp4", "video/quicktime", "video/webm"}
RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+)$")
BLOCK = 256 * 1024


class UploadRejected(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


@bp.put("/upload/video/")
def put_chunk() -> Response:
    fault = apply_fault("upload")
    if fault is not None:
        _drain()
        return fault
    publish = state().by_upload(request.args.get("upload_id", ""), request.args.get("upload_token", ""))
    try:
        first, last = _check(publish)
    except UploadRejected as exc:
        _drain()
        return _answer(exc.status, publish, exc.reason)
    assert publish is not None
    received = _consume(last - first + 1)
    if received != last - first + 1:
        return _answer(400, publish, f"body has {received} bytes; Content-Range says {last - first + 1}")
    return _accept(publish, last)


def _check(publish: Publish | None) -> tuple[int, int]:
    """Validate task, expiry and headers against progress; the chunk's byte range."""
    if publish is None:
        raise UploadRejected(404, "no upload task for this URL")
    if state().now() > publish.created_at + state().config.upload_url_ttl_s:
        raise UploadRejected(403, "upload_url expired")
    if request.content_type not in VIDEO_TYPES:
        raise UploadRejected(400, "Content-Type must be video/mp4, video/quicktime or video/webm")
    match = RANGE.match(request.headers.get("Content-Range", ""))
    if match is None:
        raise UploadRejected(400, "malformed Content-Range")
    first, last, total = (int(part) for part in match.groups())
    if total != publish.video_size or last < first or last >= total:
        raise UploadRejected(400, "Content-Range does not fit video_size")
    if request.content_length != last - first + 1:
        raise UploadRejected(400, "Content-Length does not match Content-Range")
    if first != publish.received:
        raise UploadRejected(416, "Content-Range does not continue the bytes received")
    if last != _expected_last(publish, first):
        raise UploadRejected(400, "chunk does not match chunk_size / total_chunk_count")
    return first, last


def _expected_last(publish: Publish, first: int) -> int:
    index = first // publish.chunk_size
    if index >= publish.chunk_count - 1:
        return publish.video_size - 1
    return first + publish.chunk_size - 1


def _consume(limit: int) -> int:
    """Read and count up to ``limit`` body bytes in blocks."""
    count = 0
    while count < limit:
        block = request.stream.read(min(BLOCK, limit - count))
        if not block:
            break
        count += len(block)
    return count


def _drain() -> None:
    length = request.content_length or 0
    if length:
        _consume(length)


def _accept(publish: Publish, last: int) -> Response:
    with state().lock:
        publish.received = last + 1
        done = publish.received == publish.video_size
        if done:
            publish.completed_at = state().now()
    return _answer(201 if done else 206, publish)


def _answer(status: int, publish: Publish | None, reason: str = "") -> Response:
    response = Response(reason, status, content_type="text/plain")
    if publish is not None and publish.received:
        response.headers["Content-Range"] = f"bytes 0-{publish.received - 1}/{publish.video_size}"
    elif publish is not None:
        response.headers["Content-Range"] = f"bytes */{publish.video_size}"
    return response
