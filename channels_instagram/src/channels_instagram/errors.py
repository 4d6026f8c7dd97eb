"""The Graph error envelope and its mapping onto :mod:`plugins.errors` classes.

Envelope (reference §1.8): ``{"error": {"message", "type", "code",
"error_subcode", "error_user_title", "error_user_msg", "fbtrace_id",
"is_transient"}}``. Codes and subcodes follow reference §1.8 and §2.9.
Every message names the asset at fault when there is one, says what the
error means and quotes Instagram's code/subcode and text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from plugins.errors import (
    ChannelError,
    CredentialsExpired,
    PermanentChannelError,
    RateLimited,
    ReauthorizationRequired,
    TransientChannelError,
)

RATE_LIMIT_CODES = frozenset({4, 17, 32, 613, *range(80000, 80010), 80014})
REAUTH_SUBCODES = frozenset({458, 459, 460, 464, 467})
DEFAULT_RETRY_S = {"rate_limited": 300.0, "media_not_ready": 60.0, "publishing_quota": 3600.0}


@dataclass(frozen=True)
class GraphError:
    """One parsed error answer from a Graph host."""

    status: int
    code: int | None = None
    subcode: int | None = None
    message: str = ""
    user_msg: str = ""
    is_transient: bool = False

    @property
    def platform_code(self) -> str:
        """``"code/subcode"``, ``"code"`` or ``"HTTP status"``: the platform's own code."""
        if self.code is None:
            return f"HTTP {self.status}"
        return f"{self.code}/{self.subcode}" if self.subcode else str(self.code)

    @property
    def quoted(self) -> str:
        texts = [t for t in (self.message, self.user_msg) if t]
        text = " ".join(dict.fromkeys(texts))
        return f"Instagram error {self.platform_code}" + (f": {text}" if text else "")


def parse_envelope(status: int, body: Any) -> GraphError:
    """Read the Graph envelope from a decoded body (any shape); never raises."""
    error = body.get("error") if isinstance(body, Mapping) else None
    if isinstance(body, Mapping) and "error_message" in body:  # api.instagram.com OAuth answers
        error = {"code": body.get("code"), "message": body.get("error_message")}
    if not isinstance(error, Mapping):
        return GraphError(status=status)
    return GraphError(status=status, code=_int(error.get("code")), subcode=_int(error.get("error_subcode")),
                      message=str(error.get("message") or ""), user_msg=str(error.get("error_user_msg") or ""),
                      is_transient=bool(error.get("is_transient")))


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


# subcode -> (class, stable code, meaning, names an asset)
SUBCODES: dict[int, tuple[type[ChannelError], str, str, bool]] = {
    2207001: (TransientChannelError, "platform_unavailable", "Instagram had a server error", False),
    2207003: (TransientChannelError, "media_fetch_timeout", "Instagram timed out downloading the media", True),
    2207004: (PermanentChannelError, "image_too_large", "the image is larger than 8 MiB", True),
    2207005: (PermanentChannelError, "unsupported_image_format",
              "the image format is not supported (Instagram takes JPEG only)", True),
    2207006: (PermanentChannelError, "media_not_found",
              "the media container was not found (expired, or the token lacks permission)", False),
    2207008: (TransientChannelError, "container_not_found", "the media container is not available yet", False),
    2207009: (PermanentChannelError, "aspect_ratio",
              "the image aspect ratio is outside 4:5 to 1.91:1", True),
    2207010: (PermanentChannelError, "caption_rejected",
              "the caption is too long or has too many hashtags (30) or @mentions (20)", False),
    2207020: (PermanentChannelError, "container_expired",
              "the media container expired before it was published; publish the post again", False),
    2207023: (PermanentChannelError, "unknown_media_type", "the media type is not supported", True),
    2207026: (PermanentChannelError, "unsupported_video_format", "the video format is not supported", True),
    2207027: (TransientChannelError, "media_not_ready", "the media is not ready for publishing yet", False),
    2207028: (PermanentChannelError, "carousel_size", "a carousel needs 2 to 10 items", False),
    2207032: (TransientChannelError, "create_media_failed", "Instagram failed to create the media", True),
    2207042: (RateLimited, "publishing_quota", "the account reached its daily publishing limit", False),
    2207050: (PermanentChannelError, "account_restricted",
              "the Instagram account is restricted; its owner must fix it in the Instagram app", False),
    2207051: (PermanentChannelError, "activity_restricted",
              "Instagram restricted this activity as possible spam", False),
    2207052: (PermanentChannelError, "media_fetch_failed",
              "Instagram could not fetch the media from its URL", True),
    2207053: (TransientChannelError, "upload_failed", "an unknown upload error occurred", True),
    2207057: (PermanentChannelError, "thumbnail_offset", "the thumbnail offset is outside the video", True),
}
SUBCODE_IN_TEXT = re.compile(r"\b(220\d{4})\b")
for _sub in (2207035, 2207036, 2207037, 2207040):
    SUBCODES[_sub] = (PermanentChannelError, "tags_rejected", "a product or user tag was rejected", False)


def to_channel_error(err: GraphError, *, asset: str | None = None, retry_after_s: float | None = None) -> ChannelError:
    """The one :class:`ChannelError` an error answer means (see the module table)."""
    if err.code == 190 or err.code == 102 or (err.subcode in REAUTH_SUBCODES):
        return _auth_error(err)
    if err.subcode in SUBCODES:
        return _known_subcode(err, SUBCODES[err.subcode], asset, retry_after_s)
    if err.code in RATE_LIMIT_CODES or err.status == 429 or err.code == 341:
        return _build(RateLimited, "rate_limited", "Instagram is throttling requests", err, None, retry_after_s)
    if err.code == 10 or (err.code is not None and 200 <= err.code <= 299):
        return ReauthorizationRequired(f"the Instagram connection lacks a permission; reconnect it ({err.quoted})",
                                       code="permission_missing", platform_code=err.platform_code)
    if err.code == 368:
        return _build(RateLimited, "temporarily_blocked", "Instagram temporarily blocked publishing", err, None,
                      retry_after_s or 3600.0)
    if _is_transient(err):
        return _build(TransientChannelError, "platform_unavailable", "Instagram is unavailable", err, None,
                      retry_after_s)
    return _build(PermanentChannelError, "platform_rejected", "Instagram refused the request", err, asset, None)


def _is_transient(err: GraphError) -> bool:
    return err.status >= 500 or err.is_transient or err.code in {1, 2, -1, -2}


def _auth_error(err: GraphError) -> ChannelError:
    if err.code == 190 and err.subcode == 463:
        return CredentialsExpired(f"the Instagram access token expired ({err.quoted})", platform_code=err.platform_code)
    return ReauthorizationRequired(f"the Instagram connection is no longer valid; reconnect the account ({err.quoted})",
                                   platform_code=err.platform_code)


def _known_subcode(err: GraphError, entry: tuple[type[ChannelError], str, str, bool], asset: str | None,
                   retry_after_s: float | None) -> ChannelError:
    cls, code, meaning, names_asset = entry
    return _build(cls, code, meaning, err, asset if names_asset else None, retry_after_s)


def _build(cls: type[ChannelError], code: str, meaning: str, err: GraphError, asset: str | None,
           retry_after_s: float | None) -> ChannelError:
    subject = f"{asset}: " if asset else ""
    message = f"{subject}{meaning} ({err.quoted})"
    if issubclass(cls, TransientChannelError):
        retry = retry_after_s if retry_after_s is not None else DEFAULT_RETRY_S.get(code)
        return cls(message, retry_after_s=retry, code=code, platform_code=err.platform_code)
    return cls(message, code=code, platform_code=err.platform_code)


def container_failure(status_code: str, status: str) -> tuple[str, str]:
    """``(error_code, meaning)`` of a container in ``ERROR``/``EXPIRED`` from its ``status`` text."""
    if status_code == "EXPIRED":
        return "container_expired", "the media container expired (not published within 24 hours)"
    found = SUBCODE_IN_TEXT.search(status or "")
    if found and int(found.group(1)) in SUBCODES:
        _cls, code, meaning, _asset = SUBCODES[int(found.group(1))]
        return code, meaning
    return "processing_failed", "Instagram could not process the media"
