"""Sandbox routes of the Content Posting API: inbox video init, photo init, status.

Follows platforms.md §4.3-§4.8: init validates ``source_info`` by the media
transfer guide's chunk rules, enforces 6 init calls per minute per token
(shared by the init endpoints), 30 status fetches per minute and at most
``pending_share_limit`` pending inbox shares per creator in 24 hours.
"""

from __future__ import annotations

import secrets
from typing import Any

from flask import Blueprint, Response, request

from . import photos
from .common import ApiError, apply_fault, authenticate, json_body, ok, rate, state
from .state import Publish, Token, digits

bp = Blueprint("tiktok_posting", __name__)

MIN_CHUNK = 5 * 1024 * 1024  #: "5 MB", read strictly
MAX_CHUNK = 64_000_000  #: "64 MB", read strictly
MAX_FINAL_CHUNK = 128_000_000
MAX_CHUNKS = 1000
MAX_VIDEO = 4 * 1024**3
MAX_PHOTOS = 35


@bp.post("/v2/post/publish/inbox/video/init/")
def video_init() -> Response:
    token = authenticate("video.upload")
    fault = apply_fault("video_init")
    if fault is not None:
        return fault
    rate(token, "init", state().config.init_limit)
    source = json_body().get("source_info")
    if not isinstance(source, dict) or source.get("source") not in ("FILE_UPLOAD", "PULL_FROM_URL"):
        raise ApiError("invalid_param", 400, "source_info.source must be FILE_UPLOAD or PULL_FROM_URL.")
    if source["source"] == "PULL_FROM_URL":
        return _pull_video(token, source)
    size, chunk, count = (_int(source, key) for key in ("video_size", "chunk_size", "total_chunk_count"))
    _check_chunks(size, chunk, count)
    _check_pending(token)
    publish = state().new_publish(token.open_id, "video", "v_inbox_file", video_size=size, chunk_size=chunk,
                                  chunk_count=count, upload_id=digits(), upload_token=secrets.token_hex(16))
    url = f"{request.url_root}upload/video/?upload_id={publish.upload_id}&upload_token={publish.upload_token}"
    return ok({"publish_id": publish.publish_id, "upload_url": url})


def _int(source: dict[str, Any], key: str) -> int:
    value = source.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ApiError("invalid_param", 400, f"source_info.{key} must be a positive integer.")
    return value


def _check_chunks(size: int, chunk: int, count: int) -> None:
    """The media transfer guide's rules; 400 ``invalid_param`` naming the broken one."""
    if size > MAX_VIDEO:
        raise ApiError("invalid_param", 400, f"video_size exceeds {MAX_VIDEO} bytes.")
    if count == 1 and chunk == size and size <= MAX_CHUNK:
        return
    final = size - (count - 1) * chunk
    rules = [
        (count == size // chunk, "total_chunk_count must equal floor(video_size / chunk_size)."),
        (MIN_CHUNK <= chunk <= MAX_CHUNK, "chunk_size must be between 5 MB and 64 MB."),
        (1 <= count <= MAX_CHUNKS, "total_chunk_count must be between 1 and 1000."),
        (final <= MAX_FINAL_CHUNK, "the final chunk may not exceed 128 MB."),
    ]
    for holds, message in rules:
        if not holds:
            raise ApiError("invalid_param", 400, message)


def _check_pending(token: Token) -> None:
    if state().pending_shares(token.open_id) >= state().config.pending_share_limit:
        raise ApiError("spam_risk_too_many_pending_share", 403)


def _check_verified(url: str) -> None:
    prefixes = state().config.verified_url_prefixes
    if prefixes and not any(url.startswith(prefix) for prefix in prefixes):
        raise ApiError("url_ownership_unverified", 403,
                       "Please review our URL ownership verification rules.")


def _pull_video(token: Token, source: dict[str, Any]) -> Response:
    url = source.get("video_url")
    if not isinstance(url, str) or not url:
        raise ApiError("invalid_param", 400, "source_info.video_url is required.")
    _check_verified(url)
    _check_pending(token)
    publish = state().new_publish(token.open_id, "video", "v_inbox_url")
    publish.completed_at = state().now()
    return ok({"publish_id": publish.publish_id})


@bp.post("/v2/post/publish/content/init/")
def content_init() -> Response:
    token = authenticate("video.upload")
    fault = apply_fault("content_init")
    if fault is not None:
        return fault
    rate(token, "init", state().config.init_limit)
    body = json_body()
    images = photos.check_request(body)
    if body["post_mode"] == "DIRECT_POST" and "video.publish" not in token.scopes:
        raise ApiError("scope_not_authorized", 401)
    for url in images:
        _check_verified(url)
    if body["post_mode"] == "MEDIA_UPLOAD":
        _check_pending(token)
    publish = state().new_publish(token.open_id, "photo", "p_pub_url")
    photos.pull(publish, images, fetch=state().config.fetch_photos)
    publish.completed_at = state().now()
    return ok({"publish_id": publish.publish_id})


@bp.post("/v2/post/publish/status/fetch/")
def status_fetch() -> Response:
    token = authenticate()
    fault = apply_fault("status")
    if fault is not None:
        return fault
    rate(token, "status", state().config.status_limit)
    publish_id = json_body().get("publish_id")
    publish = state().publishes.get(publish_id) if isinstance(publish_id, str) else None
    if publish is None:
        raise ApiError("invalid_publish_id", 400, "The publish_id does not exist.")
    if publish.open_id != token.open_id:
        raise ApiError("token_not_authorized_for_specified_publish_id", 400)
    return ok(_status(publish))


def _status(publish: Publish) -> dict[str, Any]:
    with state().lock:
        return state().status(publish)


@bp.get("/v2/user/info/")
def user_info() -> Response:
    token = authenticate("user.info.basic")
    fault = apply_fault("user_info")
    if fault is not None:
        return fault
    fields = [f for f in request.args.get("fields", "").split(",") if f]
    if "username" in fields and "user.info.profile" not in token.scopes:
        raise ApiError("scope_not_authorized", 401)
    creator = state().creator(token.open_id)
    values = {"open_id": creator.open_id, "union_id": creator.union_id, "avatar_url": creator.avatar_url,
              "display_name": creator.display_name, "username": creator.username}
    return ok({"user": {f: values[f] for f in fields if f in values}})
