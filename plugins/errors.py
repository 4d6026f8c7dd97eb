"""Errors a channel plugin raises. Their messages are shown to users.

Every platform failure maps to exactly one of these classes; the core decides
what to do from the class alone:

======================== =====================================================
class                    what the core does
======================== =====================================================
TransientChannelError    retries the same step later (``retry_after_s`` wins)
RateLimited              same, but counted as pacing rather than failure
CredentialsExpired       refreshes the credentials, then retries once
ReauthorizationRequired  marks the destination ``needs_reauth``; a person acts
OutcomeUnknown           never repeats the step; asks ``reconcile_publish``
PermanentChannelError    fails the target with this message
======================== =====================================================
"""

from __future__ import annotations


class ChannelError(Exception):
    """A channel operation failed; ``str(error)`` is shown to the user.

    :param message: what happened, in words a user can act on; quote the
        platform's own code and say what it means.
    :param code: a stable snake_case code, e.g. ``"media_fetch_failed"``.
    :param platform_code: the platform's own error code, when it gave one.
    """

    default_code = "channel_error"
    retryable = False

    def __init__(
        self, message: str, *, code: str | None = None, platform_code: str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.platform_code = platform_code


class TransientChannelError(ChannelError):
    """Worth retrying later: timeouts, connection resets, 5xx answers."""

    default_code = "platform_unavailable"
    retryable = True

    def __init__(
        self,
        message: str,
        *,
        retry_after_s: float | None = None,
        code: str | None = None,
        platform_code: str | None = None,
    ) -> None:
        super().__init__(message, code=code, platform_code=platform_code)
        self.retry_after_s = retry_after_s


class RateLimited(TransientChannelError):
    """The platform asked us to slow down; retry after ``retry_after_s``."""

    default_code = "rate_limited"


class CredentialsExpired(ChannelError):
    """The access token was rejected as expired; refresh it and try once more."""

    default_code = "credentials_expired"
    retryable = True


class ReauthorizationRequired(ChannelError):
    """The account has to be reconnected by a person (revoked or unrefreshable)."""

    default_code = "reauthorization_required"


class OutcomeUnknown(ChannelError):
    """A creating call may have gone through; never repeat it, reconcile instead."""

    default_code = "outcome_unknown"


class PermanentChannelError(ChannelError):
    """The platform refused for good; retrying the same request cannot help."""

    default_code = "platform_rejected"


__all__ = [
    "ChannelError",
    "CredentialsExpired",
    "OutcomeUnknown",
    "PermanentChannelError",
    "RateLimited",
    "ReauthorizationRequired",
    "TransientChannelError",
]
