"""A test-only plugin that shortens the platform poll cadence the installed channels ask for.

The channels declare production cadences (TikTok polls every 5 s, Instagram
video containers once a minute) and no deployment setting shortens them:
``MARKAESTRO_POLL_INTERVAL_SECONDS`` is only a floor. So the end-to-end
harness registers this module through ``MARKAESTRO_EXTRA_PLUGINS``. Its hook
wrappers let the installed plugin answer unchanged and only cap the
``poll_after_s`` of ``WAITING`` and ``HANDED_OFF`` outcomes at
:data:`POLL_AFTER_S`. It declares no channel, so the ``Channels`` facade
keeps it in every channel's hook calls; nothing else about a publish changes.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import replace

from plugins import hookimpl
from plugins.types import PublishOutcome, PublishState

POLL_AFTER_S = 0.2  #: seconds; the RQ scheduler adds up to its own 1 s tick
_QUICKENED = frozenset({PublishState.WAITING, PublishState.HANDED_OFF})


def quicken(outcome: PublishOutcome | None) -> PublishOutcome | None:
    """``outcome`` with its next poll due within :data:`POLL_AFTER_S`."""
    if outcome is None or outcome.state not in _QUICKENED:
        return outcome
    current = outcome.poll_after_s
    return replace(outcome, poll_after_s=POLL_AFTER_S if current is None else min(current, POLL_AFTER_S))


@hookimpl(wrapper=True)
def publish_step() -> Generator[None, PublishOutcome, PublishOutcome | None]:
    return quicken((yield))


@hookimpl(wrapper=True)
def poll_publish() -> Generator[None, PublishOutcome, PublishOutcome | None]:
    return quicken((yield))


@hookimpl(wrapper=True)
def reconcile_publish() -> Generator[None, PublishOutcome | None, PublishOutcome | None]:
    return quicken((yield))
