"""Reading a publish's state from ``POST /v2/post/publish/status/fetch/``.

Status values [DOC, platforms.md §4.7] and what they become:

====================== ===========================================================
``PROCESSING_UPLOAD``  WAITING (bytes still arriving or being processed)
``PROCESSING_DOWNLOAD`` WAITING (TikTok is pulling the photos)
``SEND_TO_USER_INBOX`` HANDED_OFF, ``external_id`` = ``publish_id``; watched at
                       ``watch_interval_s`` for the creator's own publish
``PUBLISH_COMPLETE``   PUBLISHED; ``external_id`` = the public post id when
                       TikTok gives one (``publicaly_available_post_id``, sic)
``FAILED``             FAILED with ``fail_reason`` explained, or CONTINUE to a
                       fresh init when TikTok calls the reason retryable
====================== ===========================================================

Nothing here creates anything, so it may be repeated freely.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from plugins.types import ChannelSpec, Credentials, Destination, Pacer, PublishOutcome, PublishState

from . import pacing
from .client import TikTokClient
from .errors import fail_reason

STATUS_FETCH = "/v2/post/publish/status/fetch/"
MAX_RESTARTS = 2
HANDOFF_DETAIL = ("TikTok delivered it to the creator's inbox (SEND_TO_USER_INBOX): "
                  "open TikTok's inbox notification to finish editing and post")


def fetch(client: TikTokClient, handle: Mapping[str, Any], credentials: Credentials, pacer: Pacer) -> dict[str, Any]:
    """One paced status fetch of ``handle["publish_id"]``; returns TikTok's ``data``."""
    pacing.pace_status(pacer, credentials.access_token)
    return client.post_json(STATUS_FETCH, credentials.access_token, {"publish_id": handle["publish_id"]},
                            what="the status check (status/fetch)")


def poll(client: TikTokClient, channel: ChannelSpec, destination: Destination, handle: Mapping[str, Any],
         credentials: Credentials, pacer: Pacer) -> PublishOutcome:
    """Fetch the status and turn it into an outcome (see the module table)."""
    return outcome(channel, destination, handle, fetch(client, handle, credentials, pacer))


def outcome(channel: ChannelSpec, destination: Destination, handle: Mapping[str, Any],
            data: Mapping[str, Any]) -> PublishOutcome:
    """The outcome for a status ``data`` object."""
    value = str(data.get("status", ""))
    if value == "SEND_TO_USER_INBOX":
        return _handed_off(channel, handle)
    if value == "PUBLISH_COMPLETE":
        return _published(destination, handle, data)
    if value == "FAILED":
        return _failed(handle, str(data.get("fail_reason") or ""))
    step = "watch_creator_publish" if handle.get("stage") == "inbox" else "await_inbox_delivery"
    return PublishOutcome(PublishState.WAITING, dict(handle), step=step, detail=_progress(value, data),
                          poll_after_s=channel.poll_interval_s)


def _progress(value: str, data: Mapping[str, Any]) -> str:
    for key in ("uploaded_bytes", "downloaded_bytes"):
        if data.get(key) is not None:
            return f"{value} ({key.replace('_', ' ')}: {data[key]})"
    return value or "status not reported yet"


def _handed_off(channel: ChannelSpec, handle: Mapping[str, Any]) -> PublishOutcome:
    watching = handle.get("stage") == "inbox"
    return PublishOutcome(PublishState.HANDED_OFF, {**handle, "stage": "inbox"},
                          step="watch_creator_publish" if watching else "await_inbox_delivery",
                          detail=HANDOFF_DETAIL, external_id=str(handle["publish_id"]),
                          poll_after_s=channel.watch_interval_s)


def _published(destination: Destination, handle: Mapping[str, Any], data: Mapping[str, Any]) -> PublishOutcome:
    post_ids = [str(i) for i in data.get("publicaly_available_post_id") or []]
    username = str(destination.metadata.get("username") or "")
    url = f"https://www.tiktok.com/@{username}/video/{post_ids[0]}" if post_ids and username else None
    detail = "the creator posted it on TikTok (PUBLISH_COMPLETE)"
    if not post_ids:
        detail += "; TikTok gives no public post id (private post or moderation pending)"
    return PublishOutcome(PublishState.PUBLISHED, {**handle, "stage": "published", "post_ids": post_ids},
                          step="watch_creator_publish", detail=detail,
                          external_id=post_ids[0] if post_ids else str(handle["publish_id"]), url=url)


def _failed(handle: Mapping[str, Any], reason: str) -> PublishOutcome:
    meaning = fail_reason(reason)
    attempt = int(handle.get("attempt", 0))
    text = f'TikTok reported FAILED with fail_reason "{reason or "unknown"}": {meaning.meaning}'
    if meaning.restartable and handle.get("stage") != "inbox" and attempt < MAX_RESTARTS:
        failed_ids = [*handle.get("failed_publish_ids", []), handle["publish_id"]]
        return PublishOutcome(PublishState.CONTINUE, {"attempt": attempt + 1, "failed_publish_ids": failed_ids},
                              step="restart", detail=f"{text}; TikTok says a retry may help, starting again")
    return PublishOutcome(PublishState.FAILED, {**handle, "stage": "failed"}, step="await_inbox_delivery",
                          detail=text, error_code=meaning.error_code, message=text,
                          platform_code=reason or "FAILED")


def reconcile(client: TikTokClient, channel: ChannelSpec, destination: Destination, handle: Mapping[str, Any],
              credentials: Credentials, pacer: Pacer) -> PublishOutcome | None:
    """What TikTok shows for an interrupted step; ``None`` when it cannot tell.

    Without a ``publish_id`` (the init call itself was interrupted) TikTok
    offers no way to find the upload, so a person must check the inbox.
    An interrupted chunk upload continues from where TikTok stands.
    """
    if "publish_id" not in handle:
        return None
    data = fetch(client, handle, credentials, pacer)
    if handle.get("stage") == "upload" and data.get("status") == "PROCESSING_UPLOAD":
        return PublishOutcome(PublishState.CONTINUE, dict(handle), step="upload", retry_safe=True,
                              detail=_progress("PROCESSING_UPLOAD", data))
    return outcome(channel, destination, handle, data)
