"""The sandbox's data: configuration, faults, tokens, accounts, containers, media.

Plain records; :mod:`.state` holds the behaviour. Ids are numeric strings of
Instagram's shapes (IG user ``1784140...``, containers ``1788...``, media ``1792...``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class GraphFault(Exception):
    """An error answer in the Graph envelope (reference §1.8 / §2.9)."""

    def __init__(self, message: str, *, code: int, subcode: int | None = None, status: int = 400,
                 user_title: str = "", user_msg: str = "", is_transient: bool = False,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message, self.code, self.subcode, self.status = message, code, subcode, status
        self.user_title, self.user_msg, self.is_transient = user_title, user_msg, is_transient
        self.headers = headers or {}

    def envelope(self, trace_id: str) -> dict[str, Any]:
        error: dict[str, Any] = {"message": self.message, "type": "OAuthException", "code": self.code,
                                 "is_transient": self.is_transient, "fbtrace_id": trace_id}
        if self.subcode is not None:
            error["error_subcode"] = self.subcode
        if self.user_title:
            error["error_user_title"] = self.user_title
        if self.user_msg:
            error["error_user_msg"] = self.user_msg
        return {"error": error}


@dataclass
class SandboxConfig:
    """Tunable behaviour; change at run time with ``POST /_sandbox/config``.

    Processing delays are in sandbox-clock seconds (``POST /_sandbox/clock`` moves it).
    """

    image_processing_s: float = 0.0
    video_processing_s: float = 10.0
    carousel_processing_s: float = 0.0
    quota_total: int = 50  #: ``content_publishing_limit`` ``config.quota_total``
    quota_duration_s: int = 86400
    container_limit: int = 400  #: containers per rolling 24 h
    container_ttl_s: int = 86400  #: "Containers expire after 24 hours"
    fetch_timeout_s: float = 10.0
    default_ig_user_id: str = "17841400000000001"
    default_username: str = "markaestro_sandbox"


@dataclass
class Fault:
    """An injected failure for the next ``count`` requests to ``endpoint`` (``None``: any).

    ``kind``: ``server_error`` (500, code 2), ``rate_limit`` (code 4), ``expired_token``
    (190/463), ``invalid_token`` (190/460), ``error`` (any ``status``/``code``/``subcode``),
    ``processing_error`` (the next container ends ``ERROR`` with ``subcode``), ``slow``
    (the request is carried out, then the answer waits ``delay_s``).
    """

    kind: str
    endpoint: str | None = None
    count: int = 1
    status: int = 400
    code: int = 1
    subcode: int | None = None
    message: str = ""
    delay_s: float = 0.0
    retry_after_minutes: int = 0


@dataclass
class Token:
    """An access token the sandbox issued (or was told about)."""

    value: str
    kind: str  #: ``ig_user`` (Instagram Login), ``page`` or ``fb_user`` (Facebook Login)
    ig_user_id: str = ""
    page_id: str = ""
    issued_at: float = 0.0
    expires_at: float | None = None
    revoked: bool = False


@dataclass
class Page:
    """A Facebook Page (Facebook Login), optionally linked to an Instagram account."""

    id: str
    name: str
    token: str
    ig_user_id: str | None = None


@dataclass
class Account:
    """An Instagram professional account."""

    id: str
    username: str
    name: str = ""


@dataclass
class Container:
    """An ``IG Container`` (reference §2.5)."""

    id: str
    owner: str
    media_type: str  #: IMAGE, VIDEO, REELS, CAROUSEL
    created_at: float
    ready_at: float
    params: dict[str, str]
    is_carousel_item: bool = False
    children: list[str] = field(default_factory=list)
    error: str | None = None  #: ``status`` text once processing failed
    published_media: str | None = None


@dataclass
class Media:
    """A published ``IG Media``."""

    id: str
    owner: str
    caption: str
    media_type: str  #: IMAGE, VIDEO, CAROUSEL_ALBUM
    product_type: str  #: FEED, REELS
    timestamp: float
    permalink: str
    container: str
