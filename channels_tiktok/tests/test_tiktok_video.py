"""Video inbox handoff over HTTP against the sandbox: exact call sequences."""

from __future__ import annotations

from pathlib import Path

import pytest
from tiktok_support import Account, Sandbox, video_post

from plugins.errors import TransientChannelError
from plugins.manager import Channels
from plugins.testing import LocalPacer, assert_handle_round_trips
from plugins.types import PublishOutcome, PublishState

MiB = 1024 * 1024
INIT = "POST /v2/post/publish/inbox/video/init/"
STATUS = "POST /v2/post/publish/status/fetch/"
PUT = "PUT /upload/video/"


def step(channels: Channels, account: Account, post, handle, pacer) -> PublishOutcome:  # type: ignore[no-untyped-def]
    outcome = channels.publish_step("tiktok", destination=account.destination, post=post, handle=handle,
                                    credentials=account.credentials, pacer=pacer)
    assert_handle_round_trips(outcome)
    return outcome


def poll(channels: Channels, account: Account, post, handle, pacer) -> PublishOutcome:  # type: ignore[no-untyped-def]
    outcome = channels.poll_publish("tiktok", destination=account.destination, post=post, handle=handle,
                                    credentials=account.credentials, pacer=pacer)
    assert_handle_round_trips(outcome)
    return outcome


def test_one_chunk_video_to_inbox(channels: Channels, sandbox: Sandbox, account: Account, tmp_path: Path,
                                  pacer: LocalPacer) -> None:
    post = video_post(tmp_path, 3 * MiB)
    init = step(channels, account, post, {}, pacer)
    assert init.state == PublishState.CONTINUE and init.retry_safe
    assert init.handle["publish_id"].startswith("v_inbox_file~v2.")
    assert sandbox.state.log[0].body == {"source_info": {"source": "FILE_UPLOAD", "video_size": 3 * MiB,
                                                         "chunk_size": 3 * MiB, "total_chunk_count": 1}}
    upload = step(channels, account, post, init.handle, pacer)
    assert upload.state == PublishState.WAITING and upload.detail == f"1 chunks, {3 * MiB} bytes"
    handed = poll(channels, account, post, upload.handle, pacer)
    assert handed.state == PublishState.HANDED_OFF
    assert handed.external_id == init.handle["publish_id"]
    assert handed.poll_after_s == channels.spec("tiktok").watch_interval_s
    assert sandbox.calls() == [f"{INIT} 200 ok", f"{PUT} 201", f"{STATUS} 200 ok"]
    assert sandbox.state.log[1].content_range == f"bytes 0-{3 * MiB - 1}/{3 * MiB}"


def test_multi_chunk_video_streams_in_order(make_channels, sandbox: Sandbox, account: Account,  # type: ignore[no-untyped-def]
                                            tmp_path: Path, pacer: LocalPacer) -> None:
    channels = make_channels(chunk_bytes=str(5 * MiB))
    size = 17 * MiB + 123
    post = video_post(tmp_path, size)
    init = step(channels, account, post, {}, pacer)
    assert sandbox.state.log[0].body["source_info"] == {"source": "FILE_UPLOAD", "video_size": size,
                                                        "chunk_size": 5 * MiB, "total_chunk_count": 3}
    upload = step(channels, account, post, init.handle, pacer)
    assert upload.state == PublishState.WAITING
    assert sandbox.calls() == [f"{INIT} 200 ok", f"{PUT} 206", f"{PUT} 206", f"{PUT} 201"]
    assert [e.content_range for e in sandbox.state.log[1:]] == [
        f"bytes 0-{5 * MiB - 1}/{size}", f"bytes {5 * MiB}-{10 * MiB - 1}/{size}",
        f"bytes {10 * MiB}-{size - 1}/{size}"]
    assert sandbox.state.publishes[init.handle["publish_id"]].received == size


def test_polls_until_inbox_then_watches_until_published(channels: Channels, sandbox: Sandbox, account: Account,
                                                        tmp_path: Path, pacer: LocalPacer) -> None:
    sandbox.state.config.processing_delay_s = 60.0
    post = video_post(tmp_path, 1 * MiB)
    upload = step(channels, account, post, step(channels, account, post, {}, pacer).handle, pacer)
    waiting = poll(channels, account, post, upload.handle, pacer)
    assert waiting.state == PublishState.WAITING and waiting.detail.startswith("PROCESSING_UPLOAD")
    assert waiting.poll_after_s == channels.spec("tiktok").poll_interval_s
    sandbox.state.config.processing_delay_s = 0.0
    handed = poll(channels, account, post, waiting.handle, pacer)
    assert handed.state == PublishState.HANDED_OFF and "SEND_TO_USER_INBOX" in handed.detail
    still = poll(channels, account, post, handed.handle, pacer)
    assert still.state == PublishState.HANDED_OFF and still.step == "watch_creator_publish"
    publish = sandbox.state.publishes[handed.external_id or ""]
    sandbox.state.complete(publish.publish_id)
    done = poll(channels, account, post, still.handle, pacer)
    assert done.state == PublishState.PUBLISHED
    assert done.external_id == str(publish.post_id)
    assert done.url == f"https://www.tiktok.com/@sandbox_creator_1/video/{publish.post_id}"
    assert sandbox.calls(skip_status=True) == [f"{INIT} 200 ok", f"{PUT} 201"]


def test_failed_processing_explains_fail_reason(channels: Channels, sandbox: Sandbox, account: Account,
                                                tmp_path: Path, pacer: LocalPacer) -> None:
    sandbox.state.next_fail_reason = "duration_check_failed"
    post = video_post(tmp_path, 1 * MiB)
    upload = step(channels, account, post, step(channels, account, post, {}, pacer).handle, pacer)
    failed = poll(channels, account, post, upload.handle, pacer)
    assert failed.state == PublishState.FAILED
    assert failed.error_code == "unsupported_duration" and failed.platform_code == "duration_check_failed"
    assert "duration_check_failed" in (failed.message or "") and "duration" in (failed.message or "")


def test_retryable_fail_reason_starts_again(channels: Channels, sandbox: Sandbox, account: Account,
                                            tmp_path: Path, pacer: LocalPacer) -> None:
    sandbox.state.next_fail_reason = "internal"
    post = video_post(tmp_path, 1 * MiB)
    first = step(channels, account, post, step(channels, account, post, {}, pacer).handle, pacer)
    restart = poll(channels, account, post, first.handle, pacer)
    assert restart.state == PublishState.CONTINUE and not restart.retry_safe
    assert restart.handle == {"attempt": 1, "failed_publish_ids": [first.handle["publish_id"]]}
    again = step(channels, account, post, restart.handle, pacer)
    assert again.handle["publish_id"] != first.handle["publish_id"] and again.handle["attempt"] == 1
    upload = step(channels, account, post, again.handle, pacer)
    assert poll(channels, account, post, upload.handle, pacer).state == PublishState.HANDED_OFF


def test_upload_resumes_after_chunk_server_error(make_channels, sandbox: Sandbox, account: Account,  # type: ignore[no-untyped-def]
                                                 tmp_path: Path, pacer: LocalPacer) -> None:
    channels = make_channels(chunk_bytes=str(5 * MiB))
    post = video_post(tmp_path, 15 * MiB)
    init = step(channels, account, post, {}, pacer)
    sandbox.state.log.clear()
    sandbox.state.inject("upload", "none")
    sandbox.state.inject("upload", "server_error")
    with pytest.raises(TransientChannelError):
        step(channels, account, post, init.handle, pacer)
    upload = step(channels, account, post, init.handle, pacer)
    assert upload.state == PublishState.WAITING
    assert sandbox.calls() == [f"{PUT} 206", f"{PUT} 500 internal_error", f"{PUT} 416", f"{PUT} 206", f"{PUT} 201"]


def test_reconcile(channels: Channels, sandbox: Sandbox, account: Account, tmp_path: Path,
                   pacer: LocalPacer) -> None:
    post = video_post(tmp_path, 1 * MiB)
    kwargs = {"destination": account.destination, "post": post, "credentials": account.credentials, "pacer": pacer}
    assert channels.reconcile_publish("tiktok", handle={}, **kwargs) is None
    init = step(channels, account, post, {}, pacer)
    resumed = channels.reconcile_publish("tiktok", handle=init.handle, **kwargs)
    assert resumed is not None and resumed.state == PublishState.CONTINUE and resumed.retry_safe
    upload = step(channels, account, post, init.handle, pacer)
    seen = channels.reconcile_publish("tiktok", handle=upload.handle, **kwargs)
    assert seen is not None and seen.state == PublishState.HANDED_OFF
    assert seen.external_id == init.handle["publish_id"]


class ReadRecorder:
    """A file wrapper remembering the largest single read: proof of streaming."""

    def __init__(self, path: Path) -> None:
        self.file = path.open("rb")
        self.largest = 0

    def read(self, size: int = -1) -> bytes:
        data = self.file.read(size)
        self.largest = max(self.largest, len(data))
        return data

    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        return getattr(self.file, name)

    def __enter__(self) -> ReadRecorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.file.close()


def test_upload_streams_in_small_reads(make_channels, sandbox: Sandbox, account: Account, tmp_path: Path,  # type: ignore[no-untyped-def]
                                       pacer: LocalPacer) -> None:
    from dataclasses import replace

    channels = make_channels(chunk_bytes=str(5 * MiB))
    post = video_post(tmp_path, 12 * MiB)
    path = tmp_path / f"video_{12 * MiB}.mp4"
    recorders: list[ReadRecorder] = []

    def opener() -> ReadRecorder:
        recorders.append(ReadRecorder(path))
        return recorders[-1]

    post = replace(post, media=(replace(post.media[0], opener=opener),))
    init = step(channels, account, post, {}, pacer)
    step(channels, account, post, init.handle, pacer)
    assert recorders and 0 < recorders[0].largest <= 1024 * 1024
    assert recorders[0].file.closed
