"""An in-repo fake channel ("fake") used by the core's own tests.

It declares rules like a real channel (text-only allowed, up to 4 images or
1 video, a 280-character caption, a ``title`` option) so the core's
validation, destinations and publishing can be tested without any real
channel plugin installed. Register it with
``create_plugin_manager(load_entrypoints=False, extra=[fake_channel])`` or
``MARKAESTRO_EXTRA_PLUGINS=plugins.testing.fake_channel``.

It publishes over HTTP to :mod:`plugins.testing.fake_platform` (setting
``api_url``) with one creating call per post, then polls while the platform
processes. A second channel, ``fakegram``, takes media only (like Instagram)
and shares the platform, so fan-out to a target whose rules reject a post
can be tested. A third, ``fakeinbox``, hands posts off like TikTok's inbox
(``Delivery.INBOX_HANDOFF``): the platform keeps a draft for the creator,
the channel answers ``HANDED_OFF`` with ``watch_interval_s`` and the core
watches until the creator publishes (or deletes) it.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
from marshmallow import Schema, fields, validate

from .. import hookimpl
from ..errors import (
    CredentialsExpired,
    OutcomeUnknown,
    PermanentChannelError,
    RateLimited,
    ReauthorizationRequired,
    TransientChannelError,
)
from ..types import (
    Capability,
    ChannelRules,
    ChannelSpec,
    Credentials,
    Delivery,
    Destination,
    MediaRules,
    Pacer,
    Post,
    PublishOutcome,
    PublishState,
    Sandbox,
    SettingSpec,
    Violation,
)

IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/webp"})


class FakeOptions(Schema):
    title = fields.String(validate=validate.Length(max=90))


SPEC = ChannelSpec(
    name="fake",
    title="Fake",
    providers=("fake",),
    delivery=Delivery.DIRECT,
    rules=ChannelRules(
        text_only=True, min_items=0, max_items=4, max_images=4, max_videos=1,
        mixed_media=False, caption_max_length=280, max_hashtags=5,
        image=MediaRules(mime_types=IMAGE_TYPES, max_bytes=10 * 2**20,
                         min_aspect_ratio=0.5, max_aspect_ratio=2.0),
        video=MediaRules(mime_types=frozenset({"video/mp4", "video/quicktime"}),
                         max_bytes=100 * 2**20, min_duration_s=1, max_duration_s=60),
    ),
    capabilities=frozenset({Capability.RECONCILE, Capability.TOKEN_REFRESH, Capability.FAN_OUT}),
    settings=(SettingSpec("api_url", "MARKAESTRO_FAKE_API_URL", "http://127.0.0.1:8010",
                          description="base URL of the fake platform"),),
    poll_interval_s=1.0,
    poll_deadline_s=60.0,
    options_schema=FakeOptions,
)


FAKEGRAM = ChannelSpec(
    name="fakegram",
    title="Fakegram",
    providers=("fake",),
    rules=ChannelRules(
        text_only=False, min_items=1, max_items=4, max_images=4, max_videos=0,
        mixed_media=False, caption_max_length=280,
        image=MediaRules(mime_types=IMAGE_TYPES, max_bytes=10 * 2**20),
    ),
    capabilities=frozenset({Capability.RECONCILE}),
    settings=SPEC.settings,
    poll_interval_s=1.0,
    poll_deadline_s=60.0,
)


FAKEINBOX = ChannelSpec(
    name="fakeinbox",
    title="Fake inbox",
    providers=("fake",),
    delivery=Delivery.INBOX_HANDOFF,
    rules=SPEC.rules,
    capabilities=frozenset({Capability.RECONCILE, Capability.TOKEN_REFRESH}),
    settings=SPEC.settings,
    poll_interval_s=0.5,
    poll_deadline_s=60.0,
    watch_interval_s=0.5,
    watch_deadline_s=600.0,
)


@hookimpl
def register_channels() -> list[ChannelSpec]:
    return [SPEC, FAKEGRAM, FAKEINBOX]


@hookimpl
def register_sandboxes() -> list[Sandbox]:
    from .fake_platform import create_app

    return [Sandbox("fake", ("MARKAESTRO_FAKE_API_URL",), create_app())]


@hookimpl
def validate_post(post: Post) -> list[Violation]:
    """The fake platform refuses captions that say "forbidden"."""
    if "forbidden" in post.caption.lower():
        return [Violation("caption", "forbidden_word", 'fake refuses captions containing "forbidden"',
                          "forbidden", "forbidden")]
    return []


TIMEOUT_S = 10.0
_local = threading.local()


def _call(method: str, url: str, credentials: Credentials, *, creating: bool = False,
          **kwargs: Any) -> dict[str, Any]:
    """One HTTP call to the fake platform, its failures mapped to channel errors."""
    headers = {"Authorization": f"Bearer {credentials.access_token}"}
    try:
        response = _session().request(method, url, headers=headers, timeout=TIMEOUT_S, **kwargs)
    except requests.ConnectionError as exc:
        raise TransientChannelError(f"fake platform unreachable: {type(exc).__name__}") from None
    except requests.Timeout:
        if creating:
            raise OutcomeUnknown("fake platform did not answer the creating call in time") from None
        raise TransientChannelError("fake platform timed out") from None
    body: dict[str, Any] = response.json() if response.content else {}
    if response.ok:
        return body
    _raise_for(response, body.get("error") or {}, creating)
    raise AssertionError("unreachable")


def _session() -> requests.Session:
    """This thread's session, so a worker's calls reuse their connections like a real channel's.

    The fake platform is a local sandbox, so the session ignores proxy
    settings in the environment (``requests`` would otherwise read them
    all again for every call, most of a poll's cost).
    """
    current: requests.Session | None = getattr(_local, "session", None)
    if current is None:
        current = _local.session = requests.Session()
        current.trust_env = False
    return current


def _raise_for(response: requests.Response, error: Mapping[str, str], creating: bool) -> None:
    code, message = error.get("code", ""), error.get("message", response.reason)
    status = response.status_code
    if status == 504 and creating:
        raise OutcomeUnknown(f"fake platform gateway timed out ({code}); the post may exist")
    if status == 429:
        raise RateLimited(message, retry_after_s=_retry_after(response), platform_code=code)
    if status >= 500:
        raise TransientChannelError(message, retry_after_s=_retry_after(response), platform_code=code)
    if status == 401 and code == "token_expired":
        raise CredentialsExpired(message, platform_code=code)
    if status == 401:
        raise ReauthorizationRequired(message, platform_code=code)
    raise PermanentChannelError(f"{message} (fake platform code {code})", platform_code=code)


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    return float(value) if value else None


def _outcome(channel: ChannelSpec, view: Mapping[str, Any], step: str) -> PublishOutcome:
    handle = {"postId": view["id"]}
    status = view["status"]
    if status == "published":
        return PublishOutcome(PublishState.PUBLISHED, handle, step=step, detail="published",
                              external_id=view.get("publicId") or view["id"], url=view.get("url"))
    if status == "in_inbox":
        return PublishOutcome(PublishState.HANDED_OFF, handle, step=step, detail="in the creator's inbox",
                              external_id=view["id"], poll_after_s=channel.watch_interval_s)
    if status == "deleted":
        return PublishOutcome(PublishState.FAILED, handle, step=step, detail="the creator deleted the draft",
                              error_code="deleted_by_creator", platform_code="DELETED",
                              message="The creator deleted the draft from the inbox without posting it.")
    return PublishOutcome(PublishState.WAITING, handle, step=step, detail=status)


@hookimpl
def publish_step(channel: ChannelSpec, destination: Destination, post: Post, handle: Mapping[str, object],
                 credentials: Credentials, settings: Mapping[str, str], pacer: Pacer) -> PublishOutcome:
    """One creating call (``POST /posts``) carrying the post's idempotency token."""
    base = settings["api_url"]
    if handle.get("postId"):
        return _outcome(channel, _call("GET", f"{base}/posts/{handle['postId']}", credentials), "create_post")
    wait = pacer.reserve(f"fake:{destination.account_id}", limit=10_000, period_s=1.0)
    if wait:
        raise RateLimited("fake pacing budget exhausted", retry_after_s=wait)
    view = _call("POST", f"{base}/posts", credentials, creating=True,
                 json={"token": post.idempotency_token, "caption": post.caption,
                       "account": destination.account_id, "media": [m.url for m in post.media],
                       "inbox": channel.delivery is Delivery.INBOX_HANDOFF})
    return _outcome(channel, view, "create_post")


@hookimpl
def poll_publish(channel: ChannelSpec, handle: Mapping[str, object], credentials: Credentials,
                 settings: Mapping[str, str]) -> PublishOutcome:
    """Read the created post's status; never creates anything."""
    view = _call("GET", f"{settings['api_url']}/posts/{handle['postId']}", credentials)
    watching = channel.delivery is Delivery.INBOX_HANDOFF and view["status"] != "processing"
    return _outcome(channel, view, "watch_creator_publish" if watching else "await_processing")


@hookimpl
def reconcile_publish(channel: ChannelSpec, post: Post, handle: Mapping[str, object], credentials: Credentials,
                      settings: Mapping[str, str]) -> PublishOutcome | None:
    """Look the post up by its idempotency token; nothing found means nothing was created.

    ``None`` when the platform cannot search (it cannot tell whether the post exists).
    """
    body = _call("GET", f"{settings['api_url']}/posts", credentials, params={"token": post.idempotency_token})
    if not body.get("searchable", True):
        return None
    if not body["data"]:
        return PublishOutcome(PublishState.CONTINUE, dict(handle), step="reconcile", detail="nothing created")
    return _outcome(channel, body["data"][0], "reconcile")


@hookimpl
def refresh_credentials(credentials: Credentials, settings: Mapping[str, str]) -> Credentials:
    """Exchange the refresh token (the fake platform rotates it)."""
    if not credentials.refresh_token:
        raise ReauthorizationRequired("no refresh token; reconnect the fake account")
    body = _call("POST", f"{settings['api_url']}/oauth/refresh", credentials,
                 json={"refresh_token": credentials.refresh_token})
    return Credentials(access_token=body["access_token"], refresh_token=f"{credentials.refresh_token}+",
                       expires_at=datetime.now(UTC) + timedelta(seconds=int(body["expires_in"])))
