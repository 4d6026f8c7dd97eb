"""Publishing to a creator's TikTok inbox as steps (one creating call each).

Video (FILE_UPLOAD), platforms.md §4.3-§4.4::

    step 1  POST /v2/post/publish/inbox/video/init/   (creating)  -> CONTINUE, retry_safe
    step 2  PUT upload_url  x total_chunk_count        (bytes)     -> WAITING
    poll    POST /v2/post/publish/status/fetch/        (see status.py)

Photos (PULL_FROM_URL, MEDIA_UPLOAD), platforms.md §4.5::

    step 1  POST /v2/post/publish/content/init/        (creating)  -> WAITING
    poll    POST /v2/post/publish/status/fetch/

The handle holds every TikTok id as soon as it exists: ``publish_id``,
``upload_url`` and the chunk plan, ``stage`` (``upload``, ``processing``,
``inbox``) and ``attempt`` (restarts after a retryable TikTok failure).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import IO, Any

from plugins.errors import OutcomeUnknown, PermanentChannelError, TransientChannelError
from plugins.types import (
    ChannelSpec,
    Credentials,
    Destination,
    MediaItem,
    MediaKind,
    Pacer,
    Post,
    PublishOutcome,
    PublishState,
)

from . import pacing, status
from .chunking import ChunkPlan, ChunkPlanError, plan_chunks
from .client import TikTokClient, UploadUrlGone, client_for
from .settings import TikTokSettings

VIDEO_INIT = "/v2/post/publish/inbox/video/init/"
CONTENT_INIT = "/v2/post/publish/content/init/"
MAX_RESYNCS = 3


def publish_step(channel: ChannelSpec, destination: Destination, post: Post, handle: Mapping[str, Any],
                 credentials: Credentials, settings: Mapping[str, str], pacer: Pacer) -> PublishOutcome:
    """Take the next step for ``handle`` (see the module docstring)."""
    config = TikTokSettings.from_mapping(settings)
    client = client_for(config)
    if "publish_id" not in handle:
        pacing.pace_init(pacer, credentials.access_token, destination.account_id, config.pending_share_limit)
        if _is_video(post):
            return _init_video(client, channel, post, handle, credentials, config)
        return _init_photos(client, channel, post, handle, credentials)
    if handle.get("stage") == "upload":
        return _upload(client, channel, post, handle, credentials, pacer)
    return status.poll(client, channel, destination, handle, credentials, pacer)


def _is_video(post: Post) -> bool:
    if not post.media:
        raise PermanentChannelError("TikTok needs one video or 1-10 photos; the post has no media",
                                    code="media_required")
    return post.media[0].kind == MediaKind.VIDEO


def _attempt(handle: Mapping[str, Any]) -> int:
    return int(handle.get("attempt", 0))


def _init_video(client: TikTokClient, channel: ChannelSpec, post: Post, handle: Mapping[str, Any],
                credentials: Credentials, config: TikTokSettings) -> PublishOutcome:
    video = post.media[0]
    try:
        plan = plan_chunks(video.size_bytes, config.chunk_bytes)
    except ChunkPlanError as exc:
        raise PermanentChannelError(f"the video cannot be uploaded to TikTok: {exc}", code="video_too_large") from exc
    body = {"source_info": {"source": "FILE_UPLOAD", **plan.as_dict()}}
    data = client.post_json(VIDEO_INIT, credentials.access_token, body, creating=True,
                            what="the video upload start (inbox/video/init)")
    publish_id, upload_url = _required(data, "publish_id"), _required(data, "upload_url")
    new_handle = {"kind": "video", "stage": "upload", "publish_id": publish_id, "upload_url": upload_url,
                  **plan.as_dict(), "attempt": _attempt(handle)}
    return PublishOutcome(PublishState.CONTINUE, new_handle, step="init_upload", retry_safe=True,
                          detail=f"{publish_id}: {plan.total_chunk_count} chunks, {plan.video_size} bytes to send")


def _required(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise OutcomeUnknown(f"TikTok accepted the upload start but returned no {key}; it is not repeated")
    return value


def photo_request(post: Post) -> dict[str, Any]:
    """The ``content/init`` body for an inbox (``MEDIA_UPLOAD``) photo post.

    ``title`` and ``description`` come from the options, the description
    falling back to the caption; ``photo_cover_index`` from ``coverIndex``.
    """
    options = post.options
    post_info = {"title": options.get("title"), "description": options.get("description") or post.caption}
    return {
        "post_info": {k: v for k, v in post_info.items() if v},
        "source_info": {"source": "PULL_FROM_URL", "photo_cover_index": int(options.get("coverIndex", 0)),
                        "photo_images": [item.url for item in post.media]},
        "post_mode": "MEDIA_UPLOAD",
        "media_type": "PHOTO",
    }


def _init_photos(client: TikTokClient, channel: ChannelSpec, post: Post, handle: Mapping[str, Any],
                 credentials: Credentials) -> PublishOutcome:
    data = client.post_json(CONTENT_INIT, credentials.access_token, photo_request(post), creating=True,
                            what="the photo post start (content/init)")
    publish_id = _required(data, "publish_id")
    new_handle = {"kind": "photo", "stage": "processing", "publish_id": publish_id, "attempt": _attempt(handle)}
    return PublishOutcome(PublishState.WAITING, new_handle, step="init_photos",
                          detail=f"{publish_id}: TikTok is fetching {len(post.media)} photos",
                          poll_after_s=channel.poll_interval_s)


def _plan(handle: Mapping[str, Any]) -> ChunkPlan:
    return ChunkPlan(int(handle["video_size"]), int(handle["chunk_size"]), int(handle["total_chunk_count"]))


def _upload(client: TikTokClient, channel: ChannelSpec, post: Post, handle: Mapping[str, Any],
            credentials: Credentials, pacer: Pacer) -> PublishOutcome:
    """Send every chunk in order, resuming where TikTok's ``Content-Range`` says it stands."""
    plan, video = _plan(handle), post.media[0]
    try:
        with video.open() as source:
            _send_chunks(client, source, video, plan, str(handle["upload_url"]))
    except UploadUrlGone as gone:
        return _upload_again(handle, gone)
    new_handle = {**handle, "stage": "processing"}
    return PublishOutcome(PublishState.WAITING, new_handle, step="upload",
                          detail=f"{plan.total_chunk_count} chunks, {plan.video_size} bytes",
                          poll_after_s=channel.poll_interval_s)


def _upload_again(handle: Mapping[str, Any], gone: UploadUrlGone) -> PublishOutcome:
    """Start over with a new upload (a new ``publish_id``), up to ``status.MAX_RESTARTS`` times.

    TikTok drops an upload whose bytes never all arrived, so the abandoned
    ``publish_id`` never reaches the inbox: the post is not delivered twice.
    """
    attempt = _attempt(handle)
    if attempt >= status.MAX_RESTARTS:
        raise gone
    failed_ids = [*handle.get("failed_publish_ids", []), handle["publish_id"]]
    return PublishOutcome(PublishState.CONTINUE, {"attempt": attempt + 1, "failed_publish_ids": failed_ids},
                          step="restart", detail=f"{gone.message}; starting again with a new upload")


def _send_chunks(client: TikTokClient, source: IO[bytes], video: MediaItem, plan: ChunkPlan, url: str) -> None:
    ranges, index, resyncs = list(plan.ranges()), 0, 0
    while index < len(ranges):
        first, last = ranges[index]
        if source.tell() != first:
            source.seek(first)
        result = client.put_chunk(url, source, first, last, plan.video_size, video.mime_type)
        if result.status == 201:
            return
        if result.status == 206:
            index += 1
            continue
        resyncs += 1
        index = _resume_index(ranges, result.uploaded_bytes, resyncs)
        if index == len(ranges):
            return
    raise TransientChannelError("TikTok did not confirm the end of the upload (no 201 after the last chunk)")


def _resume_index(ranges: list[tuple[int, int]], uploaded: int | None, resyncs: int) -> int:
    """The chunk to send next after a 416, from the bytes TikTok says it holds."""
    starts = [first for first, _ in ranges]
    if uploaded is not None and uploaded == ranges[-1][1] + 1:
        return len(ranges)
    if uploaded is None or uploaded not in starts or resyncs > MAX_RESYNCS:
        raise TransientChannelError(f"TikTok answered 416: the upload is out of step (TikTok holds {uploaded} bytes)",
                                    code="upload_out_of_sync", platform_code="http_416")
    return starts.index(uploaded)
