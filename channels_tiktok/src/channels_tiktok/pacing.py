"""Pacing TikTok's per-token and per-creator limits through the core's Pacer.

Limits [DOC, platforms.md §4.8]: the init endpoints (video inbox init and
content init) 6 requests per minute per user token, status fetch 30 per
minute per token, and at most 5 pending inbox shares per creator in any 24
hours. A budget is reserved *before* each call; when none is left the call
is not made and :class:`~plugins.errors.RateLimited` tells the core how long
to wait. Buckets carry a hash of the token, never the token itself.
"""

from __future__ import annotations

import hashlib

from plugins.errors import RateLimited
from plugins.types import Pacer

INIT_LIMIT, INIT_PERIOD_S = 6, 60.0
STATUS_LIMIT, STATUS_PERIOD_S = 30, 60.0
SHARE_PERIOD_S = 24 * 3600.0


def token_key(access_token: str) -> str:
    """A short, stable, non-reversible key for an access token."""
    return hashlib.sha256(access_token.encode()).hexdigest()[:16]


def pace_init(pacer: Pacer, access_token: str, open_id: str, share_limit: int) -> None:
    """Reserve one init call for the token and one inbox share for the creator.

    The minute budget is taken first, so a refused share wastes at most one
    init slot, never a day-long share slot.
    """
    _reserve(pacer, f"tiktok:init:{token_key(access_token)}", INIT_LIMIT, INIT_PERIOD_S,
             "TikTok allows 6 upload starts per minute per account")
    _reserve(pacer, f"tiktok:inbox_share:{open_id}", share_limit, SHARE_PERIOD_S,
             f"TikTok allows {share_limit} pending inbox shares per creator in 24 hours",
             code="too_many_pending_shares")


def pace_status(pacer: Pacer, access_token: str) -> None:
    """Reserve one status fetch for the token."""
    _reserve(pacer, f"tiktok:status:{token_key(access_token)}", STATUS_LIMIT, STATUS_PERIOD_S,
             "TikTok allows 30 status checks per minute per account")


def _reserve(pacer: Pacer, bucket: str, limit: int, period_s: float, why: str, code: str = "rate_limited") -> None:
    wait = pacer.reserve(bucket, limit=limit, period_s=period_s)
    if wait > 0:
        raise RateLimited(f"{why}; waiting {wait:.0f} s before the next call", retry_after_s=wait, code=code)
