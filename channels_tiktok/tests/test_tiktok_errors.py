"""Every failure class, produced by the sandbox over HTTP."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from tiktok_support import Account, MediaServer, Sandbox, video_post

from plugins.errors import (
    CredentialsExpired,
    OutcomeUnknown,
    PermanentChannelError,
    RateLimited,
    ReauthorizationRequired,
    TransientChannelError,
)
from plugins.testing import LocalPacer, make_image, make_post
from plugins.types import Credentials, PublishState

MiB = 1024 * 1024


def start(channels, account: Account, post, handle=None, credentials=None):  # type: ignore[no-untyped-def]
    return channels.publish_step("tiktok", destination=account.destination, post=post, handle=handle or {},
                                 credentials=credentials or account.credentials, pacer=LocalPacer())


def poll(channels, account: Account, post, handle):  # type: ignore[no-untyped-def]
    return channels.poll_publish("tiktok", destination=account.destination, post=post, handle=handle,
                                 credentials=account.credentials, pacer=LocalPacer())


def test_server_error_is_transient(channels, sandbox: Sandbox, account: Account, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    sandbox.state.inject("video_init", "server_error")
    with pytest.raises(TransientChannelError) as caught:
        start(channels, account, video_post(tmp_path, 1024))
    assert not isinstance(caught.value, OutcomeUnknown)
    assert caught.value.platform_code == "internal_error" and "internal_error" in str(caught.value)


def test_gateway_page_is_transient(channels, sandbox: Sandbox, account: Account, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    post = video_post(tmp_path, 1024)
    init = start(channels, account, post)
    sandbox.state.inject("status", "unavailable")
    with pytest.raises(TransientChannelError, match="HTTP 503"):
        poll(channels, account, post, init.handle)


def test_rate_limit_answer_is_rate_limited(channels, sandbox: Sandbox, account: Account, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    post = video_post(tmp_path, 1024)
    init = start(channels, account, post)
    sandbox.state.inject("status", "rate_limit")
    with pytest.raises(RateLimited) as caught:
        poll(channels, account, post, init.handle)
    assert caught.value.retry_after_s == 60 and caught.value.platform_code == "rate_limit_exceeded"


def test_expired_token_then_refresh_then_retry(channels, sandbox: Sandbox, account: Account, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    post = video_post(tmp_path, 1024)
    sandbox.state.expire_token(account.credentials.access_token)
    with pytest.raises(CredentialsExpired) as caught:
        start(channels, account, post)
    assert caught.value.platform_code == "access_token_invalid"
    fresh = channels.refresh_credentials("tiktok", destination=account.destination, credentials=account.credentials)
    init = start(channels, account, post, credentials=fresh)
    assert init.handle["publish_id"].startswith("v_inbox_file~")
    assert sandbox.calls() == ["POST /v2/post/publish/inbox/video/init/ 401 access_token_invalid",
                               "POST /v2/oauth/token/ 200", "POST /v2/post/publish/inbox/video/init/ 200 ok"]


def test_missing_scope_needs_reauthorization(channels, sandbox: Sandbox, account: Account, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    tokens = sandbox.state.issue_tokens(account.destination.account_id, scopes=("user.info.basic",))
    with pytest.raises(ReauthorizationRequired, match=r"video\.upload"):
        start(channels, account, video_post(tmp_path, 1024), credentials=Credentials(tokens["access_token"]))


def test_pending_shares_refused_by_tiktok(channels, sandbox: Sandbox, account: Account, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    sandbox.state.config.pending_share_limit = 1
    post = video_post(tmp_path, 1024)
    start(channels, account, post)
    with pytest.raises(RateLimited) as caught:
        start(channels, account, post)
    assert caught.value.code == "too_many_pending_shares" and caught.value.retry_after_s == 3600
    assert "spam_risk_too_many_pending_share" in str(caught.value) and "inbox" in str(caught.value)


def test_timeout_after_init_sent_is_outcome_unknown(make_channels, sandbox: Sandbox, account: Account,  # type: ignore[no-untyped-def]
                                                    tmp_path: Path) -> None:
    channels = make_channels(timeout_s="0.2")
    sandbox.state.inject("video_init", "slow:0.5")
    with pytest.raises(OutcomeUnknown):
        start(channels, account, video_post(tmp_path, 1024))
    assert len(sandbox.state.publishes) == 1  # it did go through: never repeat it
    outcome = channels.reconcile_publish("tiktok", destination=account.destination, post=video_post(tmp_path, 1024),
                                         handle={}, credentials=account.credentials, pacer=LocalPacer())
    assert outcome is None


def test_timeout_on_status_is_transient(make_channels, sandbox: Sandbox, account: Account, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    channels = make_channels(timeout_s="0.2")
    post = video_post(tmp_path, 1024)
    init = start(channels, account, post)
    sandbox.state.inject("status", "slow:0.5")
    with pytest.raises(TransientChannelError) as caught:
        poll(channels, account, post, init.handle)
    assert not isinstance(caught.value, OutcomeUnknown)


def test_unreachable_api_is_transient(make_channels, account: Account, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    channels = make_channels(api_url=f"http://127.0.0.1:{port}")
    with pytest.raises(TransientChannelError) as caught:
        start(channels, account, video_post(tmp_path, 1024))
    assert not isinstance(caught.value, OutcomeUnknown)


def test_permanent_error_quotes_code(channels, sandbox: Sandbox, account: Account, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    sandbox.state.inject("video_init", "error:spam_risk_user_banned_from_posting:403")
    with pytest.raises(PermanentChannelError, match='"spam_risk_user_banned_from_posting": the creator is banned'):
        start(channels, account, video_post(tmp_path, 1024))


def test_unverified_photo_domain_is_permanent(channels, sandbox: Sandbox, account: Account,  # type: ignore[no-untyped-def]
                                              media_server: MediaServer) -> None:
    sandbox.state.config.verified_url_prefixes = ("https://media.example.com/",)
    post = make_post(make_image(url=media_server.add("a.jpg", b"\xff\xd8\xff", "image/jpeg")))
    with pytest.raises(PermanentChannelError, match="url_ownership_unverified") as caught:
        start(channels, account, post)
    assert caught.value.platform_code == "url_ownership_unverified"


def test_an_expired_upload_url_starts_again_with_a_new_upload(make_channels, sandbox: Sandbox, account: Account,  # type: ignore[no-untyped-def]
                                                              tmp_path: Path) -> None:
    channels = make_channels()
    post = video_post(tmp_path, 1024)
    first = start(channels, account, post)
    sandbox.state.config.upload_url_ttl_s = -1  # the hour passed before the bytes were sent

    restart = start(channels, account, post, handle=first.handle)
    sandbox.state.config.upload_url_ttl_s = 3600
    second = start(channels, account, post, handle=restart.handle)
    uploaded = start(channels, account, post, handle=second.handle)

    assert (restart.state, restart.step) == (PublishState.CONTINUE, "restart")
    assert restart.handle == {"attempt": 1, "failed_publish_ids": [first.handle["publish_id"]]}
    assert "expired" in restart.detail
    assert second.handle["publish_id"] != first.handle["publish_id"]
    assert (uploaded.state, uploaded.handle["stage"]) == (PublishState.WAITING, "processing")


def test_an_upload_url_expiring_again_and_again_is_permanent(make_channels, sandbox: Sandbox, account: Account,  # type: ignore[no-untyped-def]
                                                             tmp_path: Path) -> None:
    channels = make_channels()
    post = video_post(tmp_path, 1024)
    sandbox.state.config.upload_url_ttl_s = -1
    handle = start(channels, account, post).handle
    for _ in range(2):  # two new uploads, each expired too
        handle = start(channels, account, post, handle=start(channels, account, post, handle=handle).handle).handle
    with pytest.raises(PermanentChannelError, match="expired") as caught:
        start(channels, account, post, handle=handle)
    assert caught.value.platform_code == "http_403"


def test_unknown_publish_id_is_permanent(channels, account: Account, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(PermanentChannelError, match="invalid_publish_id"):
        poll(channels, account, video_post(tmp_path, 1024), {"publish_id": "v_inbox_file~v2.1", "stage": "processing"})
