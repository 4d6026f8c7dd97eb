"""Value objects that cross the boundary between the core and channel plugins.

All are frozen dataclasses; enums are ``StrEnum`` so they store as text.
Plugins never see ORM rows: the core converts its rows into these values,
and everything a plugin returns is one of these values.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import IO, TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from marshmallow import Schema

JsonDict = Mapping[str, Any]


class MediaKind(StrEnum):
    """What an uploaded file is, decided from its bytes."""

    IMAGE = "image"
    VIDEO = "video"


class Delivery(StrEnum):
    """How a channel's publish ends."""

    DIRECT = "direct"  #: the platform publishes the post
    INBOX_HANDOFF = "inbox_handoff"  #: the creator finishes the post in the app


class Capability(StrEnum):
    """Optional abilities a channel declares; the core only uses declared ones."""

    TOKEN_REFRESH = "token_refresh"  #: implements ``refresh_credentials``
    OAUTH_CONNECT = "oauth_connect"  #: implements the ``oauth_*`` hooks
    RECONCILE = "reconcile"  #: implements ``reconcile_publish``
    FAN_OUT = "fan_out"  #: destinations may fan out to linked accounts


@dataclass(frozen=True)
class MediaRules:
    """Limits on one kind of media item (all images, or all videos) of a channel.

    ``None`` means "no limit". Aspect ratios are width / height.
    ``deliver_as`` lists the image types the platform itself accepts: an
    image of another accepted type is handed to the plugin as a JPEG
    rendition made by the core (the original stays untouched).
    """

    mime_types: frozenset[str]
    max_bytes: int | None = None
    min_bytes: int | None = None
    min_width: int | None = None
    max_width: int | None = None
    min_height: int | None = None
    max_height: int | None = None
    min_aspect_ratio: float | None = None
    max_aspect_ratio: float | None = None
    min_duration_s: float | None = None
    max_duration_s: float | None = None
    deliver_as: frozenset[str] = frozenset()


@dataclass(frozen=True)
class ChannelRules:
    """What a post on a channel may contain; enforced by the core's limits plugin.

    These are the fields of the public ``rules`` object (spec §2.2, §3).
    """

    text_only: bool  #: a post without media is allowed
    min_items: int
    max_items: int
    max_images: int
    max_videos: int
    mixed_media: bool  #: images and videos may appear in one post
    caption_max_length: int
    image: MediaRules | None = None  #: ``None``: the channel takes no images
    video: MediaRules | None = None  #: ``None``: the channel takes no videos
    max_hashtags: int | None = None
    max_mentions: int | None = None


@dataclass(frozen=True)
class SettingSpec:
    """One application setting a channel needs (API base URL, client id, ...).

    The core reads it from the environment variable ``env`` (or the Flask
    config key of the same name) and passes it to hooks in ``settings[key]``.
    """

    key: str
    env: str
    default: str | None = None
    secret: bool = False  #: redacted when settings are shown
    description: str = ""


@dataclass(frozen=True)
class ChannelSpec:
    """What a channel accepts and can do; declared by its plugin.

    :param name: lower-case key, e.g. ``"tiktok"``; the first part of
        destination ids and stored in the database.
    :param providers: the login providers accounts come through, e.g.
        ``("instagram", "meta")``; the second part of destination ids.
    :param poll_interval_s: the cadence of platform status polls: each is
        due one interval after the previous one was due (not after it
        finished, so polls do not drift later while workers are busy), and
        never sooner than half an interval after the previous one.
    :param poll_deadline_s: how long a publish may wait on the platform
        before it fails as timed out.
    :param watch_interval_s: for ``inbox_handoff`` channels, the slower
        cadence at which a handed-off post is watched for the creator's
        final publish; ``None`` means it is not watched.
    :param watch_deadline_s: how long a handed-off post is watched.
    :param options_schema: marshmallow schema validating ``post.options``;
        ``None`` means the channel takes no options (any given is an error).
    """

    name: str
    title: str
    rules: ChannelRules
    providers: tuple[str, ...]
    delivery: Delivery = Delivery.DIRECT
    capabilities: frozenset[Capability] = frozenset()
    settings: tuple[SettingSpec, ...] = ()
    poll_interval_s: float = 15.0
    poll_deadline_s: float = 30 * 60.0
    watch_interval_s: float | None = None
    watch_deadline_s: float | None = None
    options_schema: type[Schema] | None = None


@dataclass(frozen=True)
class MediaItem:
    """One media asset of a post, as the platform should receive it.

    ``url`` is the public hosted URL (a JPEG rendition where the channel's
    ``deliver_as`` asks for one). ``open()`` streams the same bytes from
    storage; read it in chunks, never whole.
    """

    id: str
    kind: MediaKind
    mime_type: str
    size_bytes: int
    url: str
    filename: str = ""
    sha256: str = ""
    width: int | None = None
    height: int | None = None
    duration_s: float | None = None
    opener: Callable[[], IO[bytes]] | None = field(default=None, compare=False, repr=False)

    def open(self) -> IO[bytes]:
        """Open the bytes for streaming; the caller closes the file."""
        if self.opener is None:
            raise RuntimeError(f"media {self.id} has no byte source")
        return self.opener()

    @property
    def aspect_ratio(self) -> float | None:
        """Width / height, or ``None`` when either is unknown."""
        if not self.width or not self.height:
            return None
        return self.width / self.height


@dataclass(frozen=True)
class Post:
    """What to publish to one target.

    :param idempotency_token: stable for this post and target across
        retries and crashes; send it as the platform's idempotency key (or
        embed it as a nonce) where the platform has one.
    """

    id: str
    caption: str
    media: tuple[MediaItem, ...] = ()
    options: JsonDict = field(default_factory=dict)
    idempotency_token: str = ""


@dataclass(frozen=True)
class Destination:
    """A place to publish: a Page, a profile, an organization, an inbox.

    ``id`` is ``"{channel}:{provider}:{account_id}"``; ``account_id`` may
    itself contain ``:``. ``metadata`` holds what the plugin stored when the
    destination was listed (username, linked ids, ...).
    """

    channel: str
    provider: str
    account_id: str
    name: str = ""
    metadata: JsonDict = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{self.channel}:{self.provider}:{self.account_id}"


@dataclass(frozen=True)
class Credentials:
    """A connected account's tokens. The core stores them encrypted."""

    access_token: str
    refresh_token: str | None = None
    expires_at: datetime | None = None  #: aware UTC; ``None``: does not expire
    refresh_expires_at: datetime | None = None
    scopes: tuple[str, ...] = ()
    extra: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ConnectedDestination:
    """A destination found by ``list_destinations``, with what publishing needs.

    ``credentials`` are the destination's own (a Page token, say), or
    ``None`` to use the account's. ``fan_out`` lists the ids of linked
    destinations (Meta Page → Instagram account) in the same listing.
    """

    destination: Destination
    credentials: Credentials | None = None
    fan_out: tuple[str, ...] = ()


@dataclass(frozen=True)
class Violation:
    """One rule a post breaks. ``message`` names the rule, the limit and the value.

    :param field: the API field at fault: ``"caption"``, ``"mediaAssetIds"``
        or ``"options.<name>"``.
    :param rule: a stable snake_case rule name, e.g. ``"max_items"``.
    :param media_id: the media asset at fault, when there is one.
    """

    field: str
    rule: str
    message: str
    limit: Any = None
    value: Any = None
    media_id: str | None = None


class PublishState(StrEnum):
    """Where a publish to one target stands after a hook call."""

    CONTINUE = "continue"  #: call ``publish_step`` again for the next step
    WAITING = "waiting"  #: the platform is processing; call ``poll_publish`` later
    PUBLISHED = "published"  #: live on the platform
    HANDED_OFF = "exported_for_review"  #: in the creator's inbox (inbox handoff)
    FAILED = "failed"  #: the platform reported a terminal failure


@dataclass(frozen=True)
class PublishOutcome:
    """What a publish, poll or reconcile hook call achieved.

    :param handle: the plugin's JSON-serializable state for this target,
        holding every platform id obtained so far. It replaces the stored
        handle and is passed back on the next call, also after a crash.
    :param step: the name of the step just taken (``"init_upload"``), shown
        in the job run's timeline.
    :param detail: progress in words (``"3 chunks, 31457280 bytes"``).
    :param external_id: the platform's id of the post (``PUBLISHED``,
        ``HANDED_OFF``).
    :param url: the public permalink, when the platform gives one.
    :param poll_after_s: ``WAITING``: seconds until the next poll (``None``:
        the channel's interval). ``CONTINUE``: seconds before the next step.
    :param retry_safe: ``CONTINUE`` only: the next ``publish_step`` makes no
        creating call (it re-sends bytes to an upload URL, say), so after a
        crash the core may simply run it again instead of reconciling.
    :param error_code: ``FAILED``: stable snake_case code.
    :param message: ``FAILED``: what went wrong, in words a user can act on.
    :param platform_code: ``FAILED``: the platform's own code or status.
    """

    state: PublishState
    handle: JsonDict = field(default_factory=dict)
    step: str = ""
    detail: str = ""
    external_id: str | None = None
    url: str | None = None
    poll_after_s: float | None = None
    retry_safe: bool = False
    error_code: str | None = None
    message: str | None = None
    platform_code: str | None = None


class Pacer(Protocol):
    """Shared call budgets, so a plugin can respect a platform's rate limits.

    The core passes one backed by Redis (shared by every worker); the test
    kit has an in-memory one. Buckets are the plugin's own names; include
    what the limit is per (a token hash, an account id).
    """

    def reserve(self, bucket: str, *, limit: int, period_s: float) -> float:
        """Take one call from ``bucket`` (at most ``limit`` calls per ``period_s``).

        :return: ``0.0`` when the call was reserved and may go now; otherwise
            the seconds to wait before asking again (nothing was reserved).
            Delay the work by that much (raise
            :class:`~plugins.errors.RateLimited` with it), never fail it.
        """
        ...


@dataclass(frozen=True)
class Sandbox:
    """A platform emulator a plugin ships for development and tests.

    :param name: short name, used in URLs (``/sandbox/<name>/``) and logs.
    :param settings_env: the environment variables (base URLs) to point at
        the sandbox's address so the plugin talks to it.
    :param app: the WSGI application.
    """

    name: str
    settings_env: tuple[str, ...]
    app: Callable[..., Any]


__all__ = [
    "Capability",
    "ChannelRules",
    "ChannelSpec",
    "ConnectedDestination",
    "Credentials",
    "Delivery",
    "Destination",
    "MediaItem",
    "MediaKind",
    "MediaRules",
    "Pacer",
    "Post",
    "PublishOutcome",
    "PublishState",
    "Sandbox",
    "SettingSpec",
    "Violation",
]
