"""TikTok error codes and ``fail_reason`` values mapped to :mod:`plugins.errors`.

Sources: platforms.md §4.3-§4.9 (endpoint error lists, the generic v2 error
page, the status ``fail_reason`` table). Every message quotes TikTok's code
and says what it means and what to do.

Decision on ``spam_risk_too_many_pending_share``: it is a quota, not a
refusal of the content, so it raises :class:`~plugins.errors.RateLimited`
with a long delay (:data:`PENDING_SHARE_RETRY_S`) and a message telling the
creator to finish or delete drafts waiting in their TikTok inbox. The
plugin paces inbox shares itself (see :mod:`channels_tiktok.pacing`), so
this only happens when shares were made outside Markaestro.
"""

from __future__ import annotations

from dataclasses import dataclass

import requests

from plugins.errors import (
    ChannelError,
    CredentialsExpired,
    OutcomeUnknown,
    PermanentChannelError,
    RateLimited,
    ReauthorizationRequired,
    TransientChannelError,
)

RATE_LIMIT_RETRY_S = 60.0  #: TikTok's windows are 1 minute sliding windows
PENDING_SHARE_RETRY_S = 3600.0
QUOTA_RETRY_S = 6 * 3600.0

_PERMANENT: dict[str, str] = {
    "invalid_param": "TikTok rejected a request parameter",
    "invalid_params": "TikTok rejected a request parameter",
    "invalid_file_upload": "TikTok rejected the uploaded file",
    "url_ownership_unverified": "the media URL's domain is not verified for this TikTok app",
    "unaudited_client_can_only_post_to_private_accounts":
        "the TikTok app is unaudited and may only post to private accounts",
    "privacy_level_option_mismatch": "the privacy level is not one the creator offers",
    "app_version_check_failed": "the creator's TikTok app is too old for photo inbox posts (needs 31.8 or later)",
    "spam_risk_user_banned_from_posting": "the creator is banned from posting on TikTok",
    "invalid_publish_id": "TikTok does not know this publish_id",
    "token_not_authorized_for_specified_publish_id": "the publish_id belongs to another TikTok account",
    "publish_not_cancellable": "the upload can no longer be cancelled",
}
_QUOTA: dict[str, str] = {
    "spam_risk_too_many_posts": "the creator reached TikTok's daily limit of posts made through apps",
    "reached_active_user_cap": "the TikTok app reached its daily cap of active creators",
}
_REAUTH: dict[str, str] = {
    "scope_not_authorized": "the TikTok account did not grant the video.upload permission",
    "scope_permission_missed": "the TikTok account did not grant a permission this call needs",
}


def api_error(code: str, message: str, *, status: int, log_id: str = "",
              retry_after: float | None = None) -> ChannelError:
    """The error for a TikTok v2 envelope ``error`` whose ``code`` is not ``ok``."""
    quoted = f'TikTok error "{code}"'
    detail = f" ({message})" if message else ""
    suffix = f" [log_id {log_id}]" if log_id else ""
    if code == "rate_limit_exceeded":
        return RateLimited(f"{quoted}: too many calls for this account in the last minute; retrying later{suffix}",
                           retry_after_s=retry_after or RATE_LIMIT_RETRY_S, platform_code=code)
    if code == "spam_risk_too_many_pending_share":
        return RateLimited(
            f"{quoted}: the creator already has 5 unfinished TikTok shares from the last 24 hours; "
            f"they must post or delete the drafts in their TikTok inbox. Retrying in an hour{suffix}",
            retry_after_s=PENDING_SHARE_RETRY_S, code="too_many_pending_shares", platform_code=code)
    if code in _QUOTA:
        return RateLimited(f"{quoted}: {_QUOTA[code]}; retrying in a few hours{suffix}",
                           retry_after_s=QUOTA_RETRY_S, code="quota_exceeded", platform_code=code)
    if code == "access_token_invalid":
        return CredentialsExpired(f"{quoted}: the access token is invalid or expired{detail}", platform_code=code)
    if code in _REAUTH:
        return ReauthorizationRequired(f"{quoted}: {_REAUTH[code]}; reconnect the account{suffix}",
                                       platform_code=code)
    if code == "internal_error" or status >= 500:
        return TransientChannelError(f"{quoted}: TikTok had an internal error (HTTP {status}){suffix}",
                                     retry_after_s=retry_after, platform_code=code)
    meaning = _PERMANENT.get(code, "TikTok refused the request")
    return PermanentChannelError(f"{quoted}: {meaning}{detail}{suffix}", platform_code=code)


def http_error(status: int, what: str, retry_after: float | None = None) -> ChannelError:
    """The error for an answer without a usable TikTok envelope."""
    if status == 429:
        return RateLimited(f"TikTok answered HTTP 429 to {what}; retrying later",
                           retry_after_s=retry_after or RATE_LIMIT_RETRY_S, platform_code="http_429")
    if status >= 500:
        return TransientChannelError(f"TikTok answered HTTP {status} to {what}; retrying later",
                                     retry_after_s=retry_after, platform_code=f"http_{status}")
    if status == 401:
        return CredentialsExpired(f"TikTok answered HTTP 401 to {what}", platform_code="http_401")
    return PermanentChannelError(f"TikTok answered HTTP {status} to {what}", platform_code=f"http_{status}")


def transport_error(exc: requests.RequestException, what: str, *, creating: bool) -> ChannelError:
    """The error for a call that got no answer.

    Failing to connect never reached TikTok: transient. Anything else (read
    timeout, reset) may have been processed: for a creating call that is
    :class:`~plugins.errors.OutcomeUnknown`, otherwise transient.
    """
    never_sent = isinstance(exc, requests.ConnectTimeout) or (
        isinstance(exc, requests.ConnectionError) and _refused(exc))
    if creating and not never_sent:
        return OutcomeUnknown(f"no answer from TikTok to {what} ({type(exc).__name__}); "
                              "it may have been created, so it is not repeated")
    return TransientChannelError(f"could not reach TikTok for {what} ({type(exc).__name__}); retrying later")


def _refused(exc: requests.ConnectionError) -> bool:
    text = repr(exc)
    return "NewConnectionError" in text or "Connection refused" in text or "NameResolutionError" in text


@dataclass(frozen=True)
class FailReason:
    """What a ``status/fetch`` ``fail_reason`` means and whether a fresh attempt may help."""

    error_code: str
    meaning: str
    restartable: bool = False


FAIL_REASONS: dict[str, FailReason] = {
    "file_format_check_failed": FailReason("unsupported_format", "TikTok does not support the media format"),
    "duration_check_failed": FailReason("unsupported_duration", "the video duration is outside TikTok's limits"),
    "frame_rate_check_failed": FailReason("unsupported_frame_rate", "TikTok does not support the video's frame rate"),
    "picture_size_check_failed": FailReason("unsupported_picture_size", "TikTok does not support the picture size"),
    "internal": FailReason("platform_internal_error", "TikTok had an internal error", restartable=True),
    "video_pull_failed": FailReason("media_fetch_failed", "TikTok could not download the video", restartable=True),
    "photo_pull_failed": FailReason("media_fetch_failed", "TikTok could not download the photos", restartable=True),
    "publish_cancelled": FailReason("publish_cancelled", "the upload was cancelled"),
    "auth_removed": FailReason("auth_removed", "the creator revoked Markaestro's access on TikTok"),
    "spam_risk_too_many_posts": FailReason("quota_exceeded", "the creator reached TikTok's daily post limit"),
    "spam_risk_user_banned_from_posting": FailReason("user_banned", "the creator is banned from posting"),
    "spam_risk_text": FailReason("text_refused", "TikTok considered the text risky"),
    "spam_risk": FailReason("request_refused", "TikTok considered the request risky"),
}


def fail_reason(reason: str) -> FailReason:
    """The meaning of ``reason``; unknown values are permanent failures."""
    return FAIL_REASONS.get(reason, FailReason("platform_failed", "TikTok reported a failure"))
