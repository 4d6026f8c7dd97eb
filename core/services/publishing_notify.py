"""The ``publish_finished`` hook: told once per terminal state a target reaches, after the commit.

A target is reported when it becomes ``published``, ``exported_for_review``
(handed off) or ``failed``; a watched handoff that the creator later
publishes is reported again as ``PUBLISHED``. ``skipped`` targets were never
attempted and ``needs_reconcile`` ones have no known outcome, so neither is
reported. The notice is built inside the transaction that made the change
and delivered after it committed; a worker dying in between loses it
(at most once). Hook exceptions are logged and ignored.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from plugins.manager import Channels
from plugins.types import Destination, Post, PublishOutcome, PublishState

from ..models import PublishTarget

log = logging.getLogger(__name__)

REPORTED = {"published": PublishState.PUBLISHED, "exported_for_review": PublishState.HANDED_OFF,
            "failed": PublishState.FAILED}


@dataclass(frozen=True)
class Finished:
    """A terminal state to report: plain values, safe to use after the session closed."""

    channel: str
    destination: Destination
    post: Post
    outcome: PublishOutcome


def finished_notice(channel: str, destination: Destination, post: Post, target: PublishTarget) -> Finished | None:
    """The notice for ``target``'s current state, or ``None`` when that state is not reported."""
    state = REPORTED.get(target.status)
    if state is None:
        return None
    error = (target.error or {}) if state is PublishState.FAILED else {}
    outcome = PublishOutcome(state, dict(target.handle or {}), external_id=target.external_id, url=target.url,
                             error_code=error.get("code"), message=error.get("message"),
                             platform_code=error.get("platformCode"))
    return Finished(channel, destination, post, outcome)


def notify_finished(channels: Channels, notice: Finished | None) -> None:
    """Call every plugin's ``publish_finished``; an exception is logged, never raised."""
    if notice is None:
        return
    try:
        channels.publish_finished(notice.channel, destination=notice.destination, post=notice.post,
                                  outcome=notice.outcome)
    except Exception:
        log.exception("a publish_finished hook failed for %s (%s); ignored", notice.destination.id,
                      notice.outcome.state)
