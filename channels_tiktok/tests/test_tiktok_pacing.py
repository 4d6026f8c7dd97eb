"""Pacing under bursts: no request over TikTok's limits reaches the sandbox."""

from __future__ import annotations

from pathlib import Path

import pytest
from tiktok_support import Account, Sandbox, video_post

from plugins.errors import RateLimited
from plugins.testing import LocalPacer

INIT = "POST /v2/post/publish/inbox/video/init/"


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def burst(channels, account: Account, post, pacer: LocalPacer, count: int = 20):  # type: ignore[no-untyped-def]
    """Start ``count`` publishes at once; the outcomes and the RateLimited raised."""
    started, limited = [], []
    for _ in range(count):
        try:
            started.append(channels.publish_step("tiktok", destination=account.destination, post=post, handle={},
                                                 credentials=account.credentials, pacer=pacer))
        except RateLimited as exc:
            limited.append(exc)
    return started, limited


def no_refusals(sandbox: Sandbox) -> None:
    assert not [c for c in sandbox.calls() if "rate_limit_exceeded" in c or "spam_risk" in c]


def test_burst_respects_pending_inbox_shares(channels, sandbox: Sandbox, account: Account, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    started, limited = burst(channels, account, video_post(tmp_path, 1024), LocalPacer())
    assert len(started) == 5 and len(limited) == 15
    first = limited[0]
    assert first.code == "too_many_pending_shares" and first.retry_after_s and first.retry_after_s > 23 * 3600
    assert "pending inbox shares" in str(first)
    assert {e.code for e in limited[1:]} <= {"too_many_pending_shares", "rate_limited"}
    assert sandbox.calls() == [f"{INIT} 200 ok"] * 5
    no_refusals(sandbox)


def test_burst_respects_init_rate_and_resumes_after_the_window(make_channels, sandbox: Sandbox,  # type: ignore[no-untyped-def]
                                                                account: Account, tmp_path: Path) -> None:
    clock = Clock()
    sandbox.state.config.clock = clock
    sandbox.state.config.pending_share_limit = 100
    channels = make_channels(pending_share_limit="100")
    pacer = LocalPacer(clock=clock)
    post = video_post(tmp_path, 1024)
    started, limited = burst(channels, account, post, pacer)
    assert len(started) == 6 and len(limited) == 14
    assert all(e.code == "rate_limited" and 0 < (e.retry_after_s or 0) <= 60 for e in limited)
    clock.now += max(e.retry_after_s or 0 for e in limited)
    started, limited = burst(channels, account, post, pacer, 14)
    assert len(started) == 6
    assert sandbox.calls() == [f"{INIT} 200 ok"] * 12
    no_refusals(sandbox)


def test_status_polls_are_paced(channels, sandbox: Sandbox, account: Account, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    pacer = LocalPacer()
    post = video_post(tmp_path, 1024)
    kwargs = {"destination": account.destination, "post": post, "credentials": account.credentials, "pacer": pacer}
    init = channels.publish_step("tiktok", handle={}, **kwargs)
    polled, waits = 0, []
    for _ in range(40):
        try:
            channels.poll_publish("tiktok", handle=init.handle, **kwargs)
            polled += 1
        except RateLimited as exc:
            waits.append(exc.retry_after_s or 0)
    assert (polled, len(waits)) == (30, 10)
    assert all(0 < wait <= 60 for wait in waits)
    assert len([c for c in sandbox.calls() if "/status/fetch/" in c]) == 30
    no_refusals(sandbox)


def test_pacer_buckets_never_hold_the_token(account: Account, tmp_path: Path, channels) -> None:  # type: ignore[no-untyped-def]
    pacer = LocalPacer()
    channels.publish_step("tiktok", destination=account.destination, post=video_post(tmp_path, 1024), handle={},
                          credentials=account.credentials, pacer=pacer)
    buckets = list(pacer._calls)
    assert buckets and not any(account.credentials.access_token in b for b in buckets)


@pytest.mark.parametrize("fault", ["rate_limit"])
def test_sandbox_enforces_its_own_limit(channels, sandbox: Sandbox, account: Account, tmp_path: Path,  # type: ignore[no-untyped-def]
                                        fault: str) -> None:
    """Without the shared pacer (a fresh one per call) TikTok's own 429 maps to RateLimited."""
    post = video_post(tmp_path, 1024)
    sandbox.state.config.pending_share_limit = 100
    errors = []
    for _ in range(7):
        try:
            channels.publish_step("tiktok", destination=account.destination, post=post, handle={},
                                  credentials=account.credentials, pacer=LocalPacer())
        except RateLimited as exc:
            errors.append(exc)
    assert len(errors) == 1 and errors[0].platform_code == "rate_limit_exceeded"
    assert sandbox.calls()[-1] == f"{INIT} 429 rate_limit_exceeded"
