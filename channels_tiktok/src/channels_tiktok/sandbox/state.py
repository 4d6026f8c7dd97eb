"""The TikTok sandbox's in-memory world: creators, tokens, publishes, limits, faults.

Everything is guarded by one lock (the sandbox may be served threaded).
Time comes from ``config.clock`` so tests can move it.
"""

from __future__ import annotations

import secrets
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

DEFAULT_SCOPES = ("user.info.basic", "video.upload")
DAY_S = 24 * 3600.0


@dataclass
class SandboxConfig:
    """Knobs of the emulator; every field may be changed at run time.

    :param processing_delay_s: time from the last byte (or the pull) until
        the publish reaches ``SEND_TO_USER_INBOX``.
    :param publish_after_s: when set, the creator "posts" the draft this
        long after it reached the inbox (``PUBLISH_COMPLETE``); otherwise
        only :meth:`SandboxState.complete` does.
    :param auto_accept_tokens: unknown bearer tokens are taken as new
        creators (handy for ``markaestro destinations connect``).
    :param client_key: when set, OAuth calls must present it and ``client_secret``.
    :param verified_url_prefixes: PULL_FROM_URL sources must start with one
        of these (empty: any URL, since local media servers are not HTTPS).
    """

    processing_delay_s: float = 2.0
    publish_after_s: float | None = None
    init_limit: int = 6
    status_limit: int = 30
    rate_period_s: float = 60.0
    pending_share_limit: int = 5
    access_token_ttl_s: int = 86400
    refresh_token_ttl_s: int = 365 * 86400
    upload_url_ttl_s: float = 3600.0
    auto_accept_tokens: bool = True
    client_key: str | None = None
    client_secret: str | None = None
    verified_url_prefixes: tuple[str, ...] = ()
    fetch_photos: bool = True
    clock: Callable[[], float] = time.time


@dataclass
class Creator:
    open_id: str
    display_name: str
    username: str
    union_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    avatar_url: str = "https://p16-sign.tiktokcdn-us.com/sandbox-avatar.jpeg"


@dataclass
class Token:
    value: str
    open_id: str
    scopes: tuple[str, ...]
    expires_at: float


@dataclass
class Publish:
    """One upload/share, as TikTok tracks it behind a ``publish_id``."""

    publish_id: str
    open_id: str
    kind: str  #: "video" or "photo"
    created_at: float
    video_size: int = 0
    chunk_size: int = 0
    chunk_count: int = 0
    received: int = 0
    downloaded: int = 0
    upload_id: str = ""
    upload_token: str = ""
    completed_at: float | None = None  #: last byte received / pull finished
    published_at: float | None = None
    fail_reason: str | None = None
    post_id: int = field(default_factory=lambda: secrets.randbelow(9 * 10**18) + 10**18)


@dataclass
class Logged:
    """One request the sandbox answered (control calls excluded)."""

    method: str
    path: str
    status: int
    code: str
    body: Any = None
    content_range: str | None = None

    def __str__(self) -> str:
        return f"{self.method} {self.path} {self.status} {self.code}".rstrip()


def digits(n: int = 19) -> str:
    return str(secrets.randbelow(9 * 10 ** (n - 1)) + 10 ** (n - 1))


class SandboxState:
    """The emulator's world; routes read and change it only through these methods."""

    def __init__(self, config: SandboxConfig | None = None) -> None:
        self.config = config or SandboxConfig()
        self.lock = threading.RLock()
        self.creators: dict[str, Creator] = {}
        self.tokens: dict[str, Token] = {}
        self.refresh_tokens: dict[str, Token] = {}
        self.codes: dict[str, tuple[str, tuple[str, ...], str]] = {}
        self.publishes: dict[str, Publish] = {}
        self.windows: dict[tuple[str, str], list[float]] = {}
        self.faults: dict[str, list[str]] = {}
        self.next_fail_reason: str | None = None
        self.log: list[Logged] = []

    def now(self) -> float:
        return self.config.clock()

    # -- creators and tokens ---------------------------------------------

    def creator(self, open_id: str | None = None) -> Creator:
        """The creator ``open_id`` (created on first use)."""
        with self.lock:
            open_id = open_id or f"-000{secrets.token_urlsafe(24)}"
            if open_id not in self.creators:
                number = len(self.creators) + 1
                self.creators[open_id] = Creator(open_id, f"Sandbox Creator {number}", f"sandbox_creator_{number}")
            return self.creators[open_id]

    def issue_tokens(self, open_id: str | None = None, scopes: tuple[str, ...] = DEFAULT_SCOPES,
                     expires_in: int | None = None) -> dict[str, Any]:
        """New access and refresh tokens for a creator, in ``/v2/oauth/token/`` shape."""
        with self.lock:
            creator = self.creator(open_id)
            ttl = self.config.access_token_ttl_s if expires_in is None else expires_in
            access = Token(f"act.{secrets.token_hex(30)}!{digits(4)}.va", creator.open_id, scopes, self.now() + ttl)
            refresh = Token(f"rft.{secrets.token_hex(30)}!{digits(4)}.va", creator.open_id, scopes,
                            self.now() + self.config.refresh_token_ttl_s)
            self.tokens[access.value] = access
            self.refresh_tokens[refresh.value] = refresh
        return {"access_token": access.value, "expires_in": ttl, "open_id": creator.open_id,
                "refresh_expires_in": self.config.refresh_token_ttl_s, "refresh_token": refresh.value,
                "scope": ",".join(scopes), "token_type": "Bearer"}

    def token(self, value: str) -> Token | None:
        """The live token ``value``; unknown ones are adopted when auto-accepting."""
        with self.lock:
            token = self.tokens.get(value)
            if token is None and self.config.auto_accept_tokens and value:
                open_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"tiktok-sandbox:{value}"))
                token = Token(value, self.creator(open_id).open_id, DEFAULT_SCOPES,
                              self.now() + self.config.access_token_ttl_s)
                self.tokens[value] = token
            if token is None or token.expires_at <= self.now():
                return None
            return token

    def expire_token(self, value: str) -> None:
        with self.lock:
            if value in self.tokens:
                self.tokens[value].expires_at = self.now() - 1

    def rotate_refresh(self, value: str) -> dict[str, Any] | None:
        """Spend refresh token ``value`` for new tokens; ``None`` if unknown, used or expired."""
        with self.lock:
            old = self.refresh_tokens.pop(value, None)
            if old is None or old.expires_at <= self.now():
                return None
            return self.issue_tokens(old.open_id, old.scopes)

    def issue_code(self, open_id: str | None, scopes: tuple[str, ...], redirect_uri: str) -> str:
        with self.lock:
            code = secrets.token_urlsafe(32)
            self.codes[code] = (self.creator(open_id).open_id, scopes, redirect_uri)
            return code

    def redeem_code(self, code: str, redirect_uri: str) -> dict[str, Any] | None:
        with self.lock:
            entry = self.codes.pop(code, None)
            if entry is None or entry[2] != redirect_uri:
                return None
            return self.issue_tokens(entry[0], entry[1])

    # -- limits and faults --------------------------------------------------

    def take_rate(self, token: str, bucket: str, limit: int) -> bool:
        """Count one call in the token's sliding window; ``False`` when over ``limit``."""
        with self.lock:
            now, period = self.now(), self.config.rate_period_s
            calls = [t for t in self.windows.get((token, bucket), []) if t > now - period]
            self.windows[(token, bucket)] = calls
            if len(calls) >= limit:
                return False
            calls.append(now)
            return True

    def inject(self, endpoint: str, fault: str, times: int = 1) -> None:
        """Answer the next ``times`` calls of ``endpoint`` with ``fault`` (see routes)."""
        with self.lock:
            self.faults.setdefault(endpoint, []).extend([fault] * times)

    def take_fault(self, endpoint: str) -> str | None:
        with self.lock:
            queue = self.faults.get(endpoint) or []
            return queue.pop(0) if queue else None

    def record(self, entry: Logged) -> None:
        with self.lock:
            self.log.append(entry)

    def calls(self) -> list[str]:
        """``"METHOD path status code"`` of every request answered, in order."""
        with self.lock:
            return [str(entry) for entry in self.log]

    def clear_log(self) -> None:
        with self.lock:
            self.log.clear()

    # -- publishes ----------------------------------------------------------

    def new_publish(self, open_id: str, kind: str, prefix: str, **fields: Any) -> Publish:
        with self.lock:
            publish = Publish(f"{prefix}~v2.{digits()}", open_id, kind, self.now(), **fields)
            publish.fail_reason, self.next_fail_reason = self.next_fail_reason, None
            self.publishes[publish.publish_id] = publish
            return publish

    def pending_shares(self, open_id: str) -> int:
        """Shares of the creator in the last 24 h not yet posted nor failed."""
        with self.lock:
            since = self.now() - DAY_S
            return sum(1 for p in self.publishes.values()
                       if p.open_id == open_id and p.created_at > since
                       and self.status(p)["status"] not in ("PUBLISH_COMPLETE", "FAILED"))

    def by_upload(self, upload_id: str, upload_token: str) -> Publish | None:
        with self.lock:
            for publish in self.publishes.values():
                if publish.upload_id == upload_id and secrets.compare_digest(publish.upload_token, upload_token):
                    return publish
            return None

    def complete(self, publish_id: str) -> None:
        """The creator opened the inbox draft and posted it."""
        with self.lock:
            self.publishes[publish_id].published_at = self.now()

    def fail(self, publish_id: str, reason: str) -> None:
        with self.lock:
            self.publishes[publish_id].fail_reason = reason

    def status(self, p: Publish) -> dict[str, Any]:
        """The ``status/fetch`` data of ``p`` at the current time."""
        now, cfg = self.now(), self.config
        progress = {"uploaded_bytes": p.received} if p.kind == "video" else {"downloaded_bytes": p.downloaded}
        processing = "PROCESSING_UPLOAD" if p.kind == "video" else "PROCESSING_DOWNLOAD"
        if p.completed_at is None or now < p.completed_at + cfg.processing_delay_s:
            return {"status": processing, **progress}
        if p.fail_reason:
            return {"status": "FAILED", "fail_reason": p.fail_reason, **progress}
        ready_at = p.completed_at + cfg.processing_delay_s
        auto = cfg.publish_after_s is not None and now >= ready_at + cfg.publish_after_s
        if p.published_at is not None or auto:
            return {"status": "PUBLISH_COMPLETE", "publicaly_available_post_id": [p.post_id], **progress}
        return {"status": "SEND_TO_USER_INBOX", **progress}
