"""Publishing as steps: containers, status polls, quota check, ``media_publish``, permalink.

The handle (JSON) holds every platform id obtained so far::

    {"children": [{"container": "1789...", "asset": "ast_1"}, ...],   # carousel items, post order
     "container": "1789...", "asset": "ast_1" | None,                 # single item, or carousel parent
     "created_at": 1770000000.0,   # platform clock when "container" was created
     "finished": ["1789...", ...], # containers seen FINISHED
     "media_id": "1792...",        # after media_publish
     "attempt": 1, "expired_containers": [...]}  # after starting over (containers expired unpublished)

Stages, decided from the handle alone (:func:`stage`)::

    create_child* -> await_children -> create_container -> await_container -> publish -> read_permalink

``publish_step`` makes at most one creating call (a container, or ``media_publish``).
``poll_publish`` and ``reconcile_publish`` only read. Before ``media_publish`` the
container's ``status_code`` is read again: ``PUBLISHED`` means an earlier attempt
went through, so the media is looked up and reported, never published twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from plugins.errors import RateLimited
from plugins.types import Destination, Pacer, Post, PublishOutcome, PublishState

from . import containers
from .errors import container_failure
from .graph import Graph

CONTAINERS_PER_DAY = 400  #: "An Instagram account can only create 400 containers within a rolling 24 hour period"
IMAGE_POLL_S = 5.0  #: image and carousel containers are usually FINISHED at once
STATUS_FIELDS = "status_code,status"
MAX_RECREATES = 2  #: fresh starts after containers expired unpublished, before the post fails as expired


@dataclass(frozen=True)
class Job:
    """Everything one hook call works with."""

    destination: Destination
    post: Post
    handle: dict[str, Any]
    graph: Graph
    pacer: Pacer | None = None

    @property
    def account(self) -> str:
        return self.destination.account_id


def make_job(destination: Destination, post: Post, handle: Mapping[str, object], graph: Graph,
             pacer: Pacer | None) -> Job:
    return Job(destination, post, dict(handle), graph, pacer)


def stage(post: Post, handle: Mapping[str, Any]) -> str:
    """The next thing to do for ``post`` given ``handle``."""
    children = handle.get("children", [])
    finished = set(handle.get("finished", []))
    if containers.is_carousel(post) and "container" not in handle:
        if len(children) < len(post.media):
            return "create_child"
        if any(c["container"] not in finished for c in children):
            return "await_children"
    if "container" not in handle:
        return "create_container"
    if handle["container"] not in finished:
        return "await_container"
    return "read_permalink" if "media_id" in handle else "publish"


# ---------------------------------------------------------------------------
# publish_step
# ---------------------------------------------------------------------------


def step(job: Job) -> PublishOutcome:
    """Take the next step (see the module docstring)."""
    current = stage(job.post, job.handle)
    if current == "create_child":
        return _create_child(job)
    if current == "create_container":
        return _create_container(job)
    if current in {"await_children", "await_container"}:
        return _waiting(job, job.handle, "waiting for Instagram to process the media")
    if current == "publish":
        return _publish(job)
    return _read_permalink(job, job.handle)


def _reserve_container(job: Job) -> None:
    if job.pacer is None:
        return
    bucket = f"instagram:containers:{job.destination.provider}:{job.account}"
    wait = job.pacer.reserve(bucket, limit=CONTAINERS_PER_DAY, period_s=86400.0)
    if wait > 0:
        raise RateLimited(f"the account created {CONTAINERS_PER_DAY} media containers in 24 hours; "
                          f"waiting {wait:.0f} s", retry_after_s=wait, code="container_quota")


def _new_container(job: Job, params: dict[str, object], asset: str | None) -> tuple[str, float]:
    _reserve_container(job)
    reply = job.graph.post(f"{job.account}/media", params, creating=True,
                           asset=containers.asset_label(job.post, asset))
    return str(reply.body["id"]), reply.server_time


def _create_child(job: Job) -> PublishOutcome:
    children = list(job.handle.get("children", []))
    item = job.post.media[len(children)]
    container_id, _at = _new_container(job, containers.child_params(item), item.id)
    children.append({"container": container_id, "asset": item.id})
    handle = {**job.handle, "children": children}
    detail = f"carousel item {len(children)} of {len(job.post.media)}: container {container_id} for {item.id}"
    if len(children) < len(job.post.media):
        return PublishOutcome(PublishState.CONTINUE, handle=handle, step="create_child_container", detail=detail)
    return _waiting(job, handle, detail, step_name="create_child_container")


def _create_container(job: Job) -> PublishOutcome:
    if containers.is_carousel(job.post):
        ids = [c["container"] for c in job.handle["children"]]
        params, asset, name = containers.carousel_params(job.post, ids), None, "create_carousel_container"
    else:
        asset = job.post.media[0].id
        params, name = containers.single_params(job.post), "create_container"
    container_id, created_at = _new_container(job, params, asset)
    handle = {**job.handle, "container": container_id, "asset": asset, "created_at": created_at}
    return _waiting(job, handle, f"container {container_id}", step_name=name)


def _waiting(job: Job, handle: dict[str, Any], detail: str, *, step_name: str = "await_processing") -> PublishOutcome:
    pending_assets = [a for a in _pending(job.post, handle) if a[1]]
    videos = {m.id for m in job.post.media if m.kind.value == "video"}
    quick = not any(asset in videos for _c, asset in pending_assets)
    return PublishOutcome(PublishState.WAITING, handle=handle, step=step_name, detail=detail,
                          poll_after_s=IMAGE_POLL_S if quick else None)


def _publish(job: Job) -> PublishOutcome:
    container_id = job.handle["container"]
    status_code, status = read_status(job, container_id, job.handle.get("asset"))
    if status_code != "FINISHED":
        return _settle_container(job, container_id, status_code, status)
    check_quota(job)
    reply = job.graph.post(f"{job.account}/media_publish", {"creation_id": container_id}, creating=True)
    media_id = str(reply.body["id"])
    return PublishOutcome(PublishState.CONTINUE, handle={**job.handle, "media_id": media_id}, step="media_publish",
                          detail=f"media {media_id} from container {container_id}", retry_safe=True)


def _read_permalink(job: Job, handle: dict[str, Any]) -> PublishOutcome:
    media_id = handle["media_id"]
    reply = job.graph.get(media_id, {"fields": "permalink"})
    permalink = reply.body.get("permalink")
    return PublishOutcome(PublishState.PUBLISHED, handle=handle, step="read_permalink", external_id=media_id,
                          url=str(permalink) if permalink else None, detail=f"media {media_id}")


# ---------------------------------------------------------------------------
# container status
# ---------------------------------------------------------------------------


def read_status(job: Job, container_id: str, asset: str | None) -> tuple[str, str]:
    """``(status_code, status)`` of a container (reference §2.5)."""
    reply = job.graph.get(container_id, {"fields": STATUS_FIELDS}, asset=containers.asset_label(job.post, asset))
    return str(reply.body.get("status_code", "")), str(reply.body.get("status", "") or "")


def _settle_container(job: Job, container_id: str, status_code: str, status: str) -> PublishOutcome:
    """The outcome for a main container that is not ``FINISHED`` when about to publish."""
    if status_code == "PUBLISHED":
        return adopt_published(job, container_id)
    if status_code in {"ERROR", "EXPIRED"}:
        return failed_or_recreated(job, container_id, job.handle.get("asset"), status_code, status)
    finished = [c for c in job.handle.get("finished", []) if c != container_id]
    return _waiting(job, {**job.handle, "finished": finished}, f"container {container_id} is {status_code}")


def failed_or_recreated(job: Job, container_id: str, asset: str | None, status_code: str,
                        status: str) -> PublishOutcome:
    """FAILED for a container in ``ERROR``; for one ``EXPIRED``, start over with new containers.

    A container expires 24 hours after its creation when it was never
    published (a long quota deferral, say), so creating the post's
    containers again cannot publish it twice; the expired ids stay in the
    handle's ``expired_containers``. After :data:`MAX_RECREATES` fresh starts
    the post fails as expired.
    """
    attempt = int(job.handle.get("attempt", 0))
    if status_code != "EXPIRED" or attempt >= MAX_RECREATES:
        return failed(job, container_id, asset, status_code, status)
    expired = [*job.handle.get("expired_containers", []), container_id]
    return PublishOutcome(PublishState.CONTINUE, handle={"attempt": attempt + 1, "expired_containers": expired},
                          step="recreate_containers",
                          detail=f"container {container_id} expired before it was published (Instagram keeps "
                                 "unpublished containers 24 hours); creating the post's containers again")


def failed(job: Job, container_id: str, asset: str | None, status_code: str, status: str) -> PublishOutcome:
    """FAILED naming the asset (or the carousel) and Instagram's reason."""
    code, meaning = container_failure(status_code, status)
    subject = containers.asset_label(job.post, asset) or ("the carousel" if containers.is_carousel(job.post)
                                                          else "the media")
    reason = f": {status}" if status else ""
    message = f"{subject}: {meaning} (Instagram container {container_id} is {status_code}{reason})"
    return PublishOutcome(PublishState.FAILED, handle=job.handle, step="await_processing", error_code=code,
                          message=message, platform_code=f"{status_code} {status}".strip())


# ---------------------------------------------------------------------------
# quota and lookups
# ---------------------------------------------------------------------------


def check_quota(job: Job) -> None:
    """Raise :class:`RateLimited` until the rolling publishing window allows a post (reference §2.7)."""
    reply = job.graph.get(f"{job.account}/content_publishing_limit", {"fields": "quota_usage,config"})
    entry = (reply.body.get("data") or [{}])[0]
    config = entry.get("config") or {}
    usage, total = int(entry.get("quota_usage") or 0), int(config.get("quota_total") or 0)
    duration = float(config.get("quota_duration") or 86400)
    if total and usage >= total:
        wait = _quota_wait(job, total, duration, reply.server_time)
        raise RateLimited(f"the Instagram account used {usage} of its {total} API posts per {duration / 3600:g} h "
                          f"(content_publishing_limit); publishing is deferred {wait:.0f} s until the window allows",
                          retry_after_s=wait, code="publishing_quota", platform_code="content_publishing_limit")


def _quota_wait(job: Job, total: int, duration: float, now: float) -> float:
    """Seconds until the oldest post inside the window leaves it (at least a minute)."""
    reply = job.graph.get(f"{job.account}/media", {"fields": "id,timestamp", "limit": total})
    stamps = [_timestamp(m.get("timestamp")) for m in reply.body.get("data", [])]
    in_window = [t for t in stamps if t is not None and t > now - duration]
    if not in_window:
        return 3600.0
    return max(min(in_window) + duration - now + 1.0, 60.0)


def _timestamp(value: object) -> float | None:
    try:
        return datetime.strptime(str(value), "%Y-%m-%dT%H:%M:%S%z").timestamp()
    except ValueError:
        return None


def adopt_published(job: Job, container_id: str) -> PublishOutcome:
    """The container shows ``PUBLISHED``: find its media among the account's recent media."""
    since = float(job.handle.get("created_at") or 0) - 60.0
    reply = job.graph.get(f"{job.account}/media", {"fields": "id,caption,timestamp,permalink", "limit": 25})
    for media in reply.body.get("data", []):
        stamp = _timestamp(media.get("timestamp")) or 0.0
        if (media.get("caption") or "").strip() == job.post.caption.strip() and stamp >= since:
            handle = {**job.handle, "media_id": str(media["id"])}
            return PublishOutcome(PublishState.PUBLISHED, handle=handle, step="reconcile", external_id=str(media["id"]),
                                  url=media.get("permalink"), detail=f"container {container_id} already PUBLISHED")
    return PublishOutcome(PublishState.PUBLISHED, handle=job.handle, step="reconcile",
                          detail=f"container {container_id} is PUBLISHED; its media was not found among recent media")


def _pending(post: Post, handle: Mapping[str, Any]) -> list[tuple[str, str | None]]:
    """The ``(container, asset)`` pairs still to be seen ``FINISHED``, in order."""
    finished = set(handle.get("finished", []))
    if "container" in handle:
        pairs = [(handle["container"], handle.get("asset"))]
    else:
        pairs = [(c["container"], c["asset"]) for c in handle.get("children", [])]
    return [(c, a) for c, a in pairs if c not in finished]


# ---------------------------------------------------------------------------
# poll_publish and reconcile_publish
# ---------------------------------------------------------------------------


def poll(job: Job) -> PublishOutcome:
    """Read each pending container; CONTINUE once all are FINISHED (never creates)."""
    handle = dict(job.handle)
    for container_id, asset in _pending(job.post, handle):
        status_code, status = read_status(job, container_id, asset)
        if status_code == "PUBLISHED" and container_id == handle.get("container"):
            return adopt_published(job, container_id)
        if status_code in {"ERROR", "EXPIRED"}:
            return failed_or_recreated(job, container_id, asset, status_code, status)
        if status_code != "FINISHED":
            return _waiting(job, handle, f"container {container_id} is {status_code}")
        handle["finished"] = [*handle.get("finished", []), container_id]
    if "media_id" in handle:
        return PublishOutcome(PublishState.CONTINUE, handle=handle, step="await_processing", retry_safe=True)
    return PublishOutcome(PublishState.CONTINUE, handle=handle, step="await_processing",
                          detail="containers FINISHED")


def reconcile(job: Job) -> PublishOutcome:
    """What an interrupted ``publish_step`` achieved, from Instagram's state (never publishes).

    An interrupted container creation is repeated: a container that was never
    published is invisible, harmless and expires after 24 hours. An
    interrupted ``media_publish`` is settled by the container's ``status_code``.
    """
    current = stage(job.post, job.handle)
    if current == "read_permalink":
        return _read_permalink(job, job.handle)
    if current != "publish":
        return PublishOutcome(PublishState.CONTINUE, handle=job.handle, step="reconcile",
                              detail=f"{current}: an unpublished container is harmless; the step may run again")
    container_id = job.handle["container"]
    status_code, status = read_status(job, container_id, job.handle.get("asset"))
    if status_code == "FINISHED":
        return PublishOutcome(PublishState.CONTINUE, handle=job.handle, step="reconcile",
                              detail=f"container {container_id} is FINISHED and was not published")
    return _settle_container(job, container_id, status_code, status)
