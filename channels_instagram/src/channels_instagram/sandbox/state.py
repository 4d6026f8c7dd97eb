"""The sandbox's behaviour: the container state machine, publishing, quota, tokens.

Follows reference §2 (Instagram content publishing) and its emulator notes
(§2.11). Thread-safe: the WSGI server may serve requests concurrently.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from dataclasses import asdict, fields
from typing import Any

from . import fetch
from .model import Account, Container, Fault, GraphFault, Media, Page, SandboxConfig, Token

HASHTAG = re.compile(r"(?<!\w)#\w+")
MENTION = re.compile(r"(?<![\w@])@[\w.]+")
LONG_LIVED_S = 5183944
SHORT_LIVED_S = 3600
SCOPES = "instagram_business_basic,instagram_business_content_publish"


def not_ready() -> GraphFault:
    return GraphFault("Media ID is not available", code=9007, subcode=2207027,
                      user_title="Media not ready for publishing",
                      user_msg="The media is not ready for publishing, please wait for a moment")


def no_object(object_id: str, verb: str = "get") -> GraphFault:
    return GraphFault(f"Unsupported {verb} request. Object with ID '{object_id}' does not exist, cannot be loaded "
                      "due to missing permissions, or does not support this operation.", code=100, subcode=33)


class SandboxState:
    """Everything the emulated Instagram knows, plus the recorded requests."""

    def __init__(self, config: SandboxConfig | None = None) -> None:
        self.config = config or SandboxConfig()
        self.lock = threading.RLock()
        self.requests: list[dict[str, Any]] = []
        self.faults: list[Fault] = []
        self.tokens: dict[str, Token] = {}
        self.codes: dict[str, str] = {}
        self.accounts: dict[str, Account] = {}
        self.pages: dict[str, Page] = {}
        self.containers: dict[str, Container] = {}
        self.media: dict[str, Media] = {}
        self._next_id = 0

    # -- clock, ids, control ------------------------------------------------

    def now(self) -> float:
        return time.time()

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` pass: every stored time moves back, so ``now()`` stays the real clock
        (and the HTTP ``Date`` header agrees with the sandbox's data)."""
        with self.lock:
            for container in self.containers.values():
                container.created_at -= seconds
                container.ready_at -= seconds
            for media in self.media.values():
                media.timestamp -= seconds
            for token in self.tokens.values():
                token.issued_at -= seconds
                token.expires_at = None if token.expires_at is None else token.expires_at - seconds

    def new_id(self, prefix: str) -> str:
        """A 17-digit id with Instagram's prefixes (``1788`` containers, ``1792`` media)."""
        with self.lock:
            self._next_id += 1
            return f"{prefix}{int(self.now() * 1000) % 10**9:09d}{self._next_id:04d}"[:17].ljust(17, "0")

    def configure(self, **changes: Any) -> None:
        known = {f.name for f in fields(SandboxConfig)}
        for key, value in changes.items():
            if key not in known:
                raise KeyError(key)
            setattr(self.config, key, type(getattr(self.config, key))(value))

    def add_fault(self, **spec: Any) -> Fault:
        fault = Fault(**spec)
        with self.lock:
            self.faults.append(fault)
        return fault

    def take_fault(self, endpoint: str, kinds: set[str]) -> Fault | None:
        """Consume the first pending fault of one of ``kinds`` matching ``endpoint``."""
        with self.lock:
            for fault in self.faults:
                if fault.kind in kinds and fault.endpoint in (None, endpoint) and fault.count > 0:
                    fault.count -= 1
                    return fault
        return None

    def record(self, entry: dict[str, Any]) -> None:
        with self.lock:
            self.requests.append(entry)

    def calls(self) -> list[tuple[str, dict[str, Any]]]:
        """``(endpoint, params)`` of every recorded request, in order."""
        return [(r["endpoint"], r["params"]) for r in self.requests]

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {"containers": [asdict(c) for c in self.containers.values()],
                    "media": [asdict(m) for m in self.media.values()], "config": asdict(self.config)}

    # -- tokens ---------------------------------------------------------------

    def add_token(self, value: str, kind: str = "ig_user", *, ig_user_id: str = "", page_id: str = "",
                  age_s: float = 0.0, expires_in: float | None = LONG_LIVED_S) -> Token:
        now = self.now()
        token = Token(value, kind, ig_user_id or (self.config.default_ig_user_id if kind == "ig_user" else ""),
                      page_id, issued_at=now - age_s,
                      expires_at=None if expires_in is None else now - age_s + expires_in)
        with self.lock:
            self.tokens[value] = token
        return token

    def add_page(self, page_id: str, name: str, token: str, ig_user_id: str | None) -> Page:
        page = Page(page_id, name, token, ig_user_id)
        with self.lock:
            self.pages[page_id] = page
        self.add_token(token, "page", ig_user_id=ig_user_id or "", page_id=page_id, expires_in=None)
        if ig_user_id:
            self.account(ig_user_id)
        return page

    def authenticate(self, value: str | None) -> Token:
        """The caller's token; missing, expired and revoked tokens raise Graph code 104/190."""
        if not value:
            raise GraphFault("An access token is required to request this resource.", code=104)
        token = self.tokens.get(value) or Token(value, "ig_user", self.config.default_ig_user_id)
        if token.revoked:
            raise GraphFault("Error validating access token: The session has been invalidated because the user "
                             "changed their password.", code=190, subcode=460)
        if value.startswith("expired") or (token.expires_at is not None and token.expires_at <= self.now()):
            raise GraphFault("Error validating access token: Session has expired.", code=190, subcode=463)
        return token

    # -- accounts ---------------------------------------------------------------

    def account(self, ig_user_id: str) -> Account:
        """The account with this id, created on first use (any id publishes in the sandbox)."""
        with self.lock:
            if ig_user_id not in self.accounts:
                username = (self.config.default_username if ig_user_id == self.config.default_ig_user_id
                            else f"sandbox_{ig_user_id[-6:]}")
                self.accounts[ig_user_id] = Account(ig_user_id, username, username.replace("_", " ").title())
            return self.accounts[ig_user_id]

    # -- containers -------------------------------------------------------------

    def status_code(self, container: Container) -> str:
        """IN_PROGRESS -> FINISHED | ERROR -> PUBLISHED; EXPIRED 24 h after creation."""
        now = self.now()
        if container.published_media:
            return "PUBLISHED"
        if now < container.ready_at:
            return "IN_PROGRESS"
        if container.error:
            return "ERROR"
        if now >= container.created_at + self.config.container_ttl_s:
            return "EXPIRED"
        return "FINISHED"

    def create_container(self, owner: str, params: dict[str, str]) -> Container:
        """``POST /{ig-user-id}/media``: validate, fetch images now, videos "while processing"."""
        self._check_container_quota(owner)
        media_type = params.get("media_type", "IMAGE").upper()
        carousel_item = params.get("is_carousel_item", "false").lower() == "true"
        _check_caption(params.get("caption", ""))
        if media_type == "CAROUSEL":
            return self._create_carousel(owner, params)
        _check_media_type(media_type, carousel_item)
        return self._create_media_container(owner, media_type, carousel_item, params)

    def _check_container_quota(self, owner: str) -> None:
        window = self.now() - 86400
        used = sum(1 for c in self.containers.values() if c.owner == owner and c.created_at > window)
        if used >= self.config.container_limit:
            raise GraphFault("The account reached its limit of containers created in 24 hours.", code=4,
                             is_transient=True)

    def _create_media_container(self, owner: str, media_type: str, carousel_item: bool,
                                params: dict[str, str]) -> Container:
        key = "image_url" if media_type == "IMAGE" else "video_url"
        if not params.get(key):
            raise GraphFault(f"(#100) The parameter {key} is required", code=100)
        error, delay = None, self.config.image_processing_s
        if media_type == "IMAGE":
            fetch.check_image(params[key], self.config.fetch_timeout_s)
        else:
            error, delay = fetch.video_problem(params[key], self.config.fetch_timeout_s), self.config.video_processing_s
        fault = self.take_fault("POST media", {"processing_error"})
        if fault:
            error = f"Error: Media upload has failed with error code {fault.subcode or 2207053}"
        return self._store(Container(self.new_id("1788"), owner, media_type, self.now(), self.now() + delay,
                                     dict(params), is_carousel_item=carousel_item, error=error))

    def _create_carousel(self, owner: str, params: dict[str, str]) -> Container:
        children = [c.strip() for c in params.get("children", "").strip("[]").replace('"', "").split(",") if c.strip()]
        if not 2 <= len(children) <= 10:
            raise GraphFault("Carousels need at least 2 photos/videos and no more than 10.", code=100, subcode=2207028)
        for child_id in children:
            child = self.containers.get(child_id)
            if child is None or child.owner != owner or not child.is_carousel_item:
                raise GraphFault(f"(#100) Param children contains {child_id}, which is not a carousel item "
                                 "container of this account", code=100)
            if self.status_code(child) != "FINISHED":
                raise not_ready()
        now = self.now()
        return self._store(Container(self.new_id("1788"), owner, "CAROUSEL", now,
                                     now + self.config.carousel_processing_s, dict(params), children=children))

    def _store(self, container: Container) -> Container:
        with self.lock:
            self.containers[container.id] = container
        return container

    # -- publishing ---------------------------------------------------------------

    def quota_usage(self, owner: str) -> int:
        window = self.now() - self.config.quota_duration_s
        return sum(1 for m in self.media.values() if m.owner == owner and m.timestamp > window)

    def publish(self, owner: str, creation_id: str | None) -> Media:
        """``POST /{ig-user-id}/media_publish``: only a FINISHED container, once, within quota."""
        if not creation_id:
            raise GraphFault("(#100) The parameter creation_id is required", code=100)
        with self.lock:
            container = self.containers.get(creation_id)
            if container is None or container.owner != owner or container.is_carousel_item:
                raise no_object(creation_id, "post")
            status = self.status_code(container)
            if status == "EXPIRED":
                raise GraphFault("The media has expired.", code=-2, subcode=2207020)
            if status != "FINISHED":
                raise not_ready()
            if self.quota_usage(owner) >= self.config.quota_total:
                raise GraphFault("Application request limit reached", code=9, subcode=2207042,
                                 user_title="Max posts reached",
                                 user_msg="The account has reached its daily publishing limit.")
            return self._new_media(container)

    def _new_media(self, container: Container) -> Media:
        reel = container.media_type == "REELS"
        kind = {"IMAGE": "IMAGE", "REELS": "VIDEO", "CAROUSEL": "CAROUSEL_ALBUM"}[container.media_type]
        shortcode = secrets.token_urlsafe(8).replace("-", "A").replace("_", "z")[:11]
        media = Media(self.new_id("1792"), container.owner, container.params.get("caption", ""), kind,
                      "REELS" if reel else "FEED", self.now(),
                      f"https://www.instagram.com/{'reel' if reel else 'p'}/{shortcode}/", container.id)
        self.media[media.id] = media
        container.published_media = media.id
        return media

    # -- OAuth (Instagram Login) ------------------------------------------------------

    def issue_code(self) -> str:
        code = "AQ" + secrets.token_urlsafe(24)
        with self.lock:
            self.codes[code] = self.config.default_ig_user_id
        return code

    def redeem_code(self, code: str) -> Token:
        with self.lock:
            ig_user_id = self.codes.pop(code, None)
        if ig_user_id is None:
            raise GraphFault("Invalid authorization code", code=400)
        return self.add_token("IGQV" + secrets.token_urlsafe(32), ig_user_id=ig_user_id, expires_in=SHORT_LIVED_S)

    def long_lived(self, token: Token) -> Token:
        return self.add_token("IGAA" + secrets.token_urlsafe(40), ig_user_id=token.ig_user_id)

    def refreshed(self, token: Token) -> Token:
        """``ig_refresh_token``: the token must be at least 24 hours old and unexpired."""
        if self.now() - token.issued_at < 86400 and token.value in self.tokens:
            raise GraphFault("(#100) The access token cannot be refreshed until it is 24 hours old", code=100)
        return self.add_token("IGAA" + secrets.token_urlsafe(40), ig_user_id=token.ig_user_id)


def _check_caption(caption: str) -> None:
    if len(caption) > 2200 or len(HASHTAG.findall(caption)) > 30 or len(MENTION.findall(caption)) > 20:
        raise GraphFault("The caption is too long or has too many hashtags or mentions.", code=36004,
                         subcode=2207010, user_title="Caption too long",
                         user_msg="Captions are limited to 2,200 characters, 30 hashtags and 20 @ tags.")


def _check_media_type(media_type: str, carousel_item: bool) -> None:
    """IMAGE anywhere; VIDEO only as a carousel item (since 2023-11-09); REELS never in a carousel."""
    allowed = media_type == "IMAGE" or (media_type == "VIDEO" and carousel_item) or (
        media_type == "REELS" and not carousel_item)
    if not allowed:
        raise GraphFault(f"The media type {media_type} is not supported here (single videos publish as REELS, "
                         "VIDEO is only for carousel items, REELS cannot be carousel items)", code=100,
                         subcode=2207023)
