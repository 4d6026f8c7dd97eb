"""Refusals, processing errors, quota deferral and the mapping of every error class, over HTTP."""

from __future__ import annotations

import pytest
from ig_support import MP4_HEADER, Driver, MediaHost, Sandbox, image_bytes, post_of

from plugins.errors import (
    ChannelError,
    CredentialsExpired,
    OutcomeUnknown,
    PermanentChannelError,
    RateLimited,
    ReauthorizationRequired,
    TransientChannelError,
)
from plugins.types import PublishState


def test_png_handed_directly_is_refused_by_instagram(driver: Driver, sandbox: Sandbox, media_host: MediaHost) -> None:
    png = media_host.add("ast_png", image_bytes("PNG"), "image/png", width=1080, height=1080)
    with pytest.raises(PermanentChannelError) as info:
        driver.step(post_of(png), {})
    error = info.value
    assert error.code == "unsupported_image_format" and error.platform_code == "36001/2207005"
    assert "image ast_png" in str(error) and "JPEG" in str(error)
    assert sandbox.calls() == ["POST media"] and sandbox.state.containers == {}


def test_aspect_ratio_names_the_carousel_item(driver: Driver, sandbox: Sandbox, media_host: MediaHost) -> None:
    post = post_of(media_host.jpeg("ast_ok"), media_host.jpeg("ast_wide", (2000, 1000)))
    first = driver.step(post, {})
    with pytest.raises(PermanentChannelError) as info:
        driver.step(post, dict(first.handle))
    assert info.value.code == "aspect_ratio" and info.value.platform_code == "36003/2207009"
    assert "image ast_wide (item 2 of 2)" in str(info.value) and "2000/1000" in str(info.value)


def test_unreachable_media_url_names_the_asset(driver: Driver, media_host: MediaHost) -> None:
    image = media_host.jpeg("ast_gone")
    media_host.files.clear()
    with pytest.raises(PermanentChannelError) as info:
        driver.step(post_of(image), {})
    assert info.value.code == "media_fetch_failed" and info.value.platform_code == "9004/2207052"
    assert "image ast_gone" in str(info.value)


def test_too_large_image(driver: Driver, media_host: MediaHost) -> None:
    big = media_host.add("ast_big", image_bytes() + bytes(8 * 2**20), "image/jpeg", width=1080, height=1080)
    with pytest.raises(PermanentChannelError) as info:
        driver.step(post_of(big), {})
    assert info.value.code == "image_too_large" and "8 MiB" in str(info.value)


def test_video_that_errors_in_processing_fails_with_reason(driver: Driver, sandbox: Sandbox,
                                                           media_host: MediaHost) -> None:
    not_mp4 = media_host.add("ast_avi", b"RIFF....AVI LIST" + bytes(512), "video/mp4", duration_s=10.0)
    outcome = driver.run(post_of(not_mp4))
    assert outcome.state == PublishState.FAILED
    assert outcome.error_code == "unsupported_video_format"
    assert "video ast_avi" in (outcome.message or "") and "2207026" in (outcome.message or "")
    assert outcome.platform_code == "ERROR Error: Media upload has failed with error code 2207026"
    assert "POST media_publish" not in sandbox.calls()


def test_injected_processing_error_in_a_carousel_child(driver: Driver, sandbox: Sandbox,
                                                       media_host: MediaHost) -> None:
    items = [media_host.jpeg("ast_a"), media_host.video("ast_b"), media_host.jpeg("ast_c")]
    driver.step(post_of(*items), {})
    sandbox.control("faults", kind="processing_error", endpoint="POST media", subcode=2207053)
    outcome = driver.run(post_of(*items), dict(driver.outcomes[-1].handle))
    assert outcome.state == PublishState.FAILED and outcome.error_code == "upload_failed"
    assert (outcome.message or "").startswith("video ast_b (item 2 of 3): an unknown upload error")
    assert sandbox.calls().count("POST media") == 3


def test_an_expired_container_is_created_again_and_published_once(driver: Driver, sandbox: Sandbox,
                                                                    media_host: MediaHost) -> None:
    post = post_of(media_host.jpeg("ast_img"))
    waiting = driver.step(post, {})
    ready = driver.poll(post, dict(waiting.handle))
    sandbox.advance(86400 + 1)  # a day of quota deferral: the container expired unpublished

    again = driver.step(post, dict(ready.handle))
    outcome = driver.run(post, dict(again.handle))

    assert (again.state, again.step) == (PublishState.CONTINUE, "recreate_containers")
    assert again.handle == {"attempt": 1, "expired_containers": [waiting.handle["container"]]}
    assert outcome.state == PublishState.PUBLISHED
    assert sandbox.calls().count("POST media") == 2 and sandbox.calls().count("POST media_publish") == 1


def test_containers_expiring_again_and_again_fail_the_post(driver: Driver, sandbox: Sandbox,
                                                           media_host: MediaHost) -> None:
    post = post_of(media_host.jpeg("ast_img"))
    outcomes = []
    for _ in range(3):  # the first container and two fresh starts, each left to expire
        waiting = driver.step(post, dict(outcomes[-1].handle) if outcomes else {})
        sandbox.advance(86400 + 1)
        outcomes.append(driver.poll(post, dict(waiting.handle)))
    assert [o.state for o in outcomes] == [PublishState.CONTINUE, PublishState.CONTINUE, PublishState.FAILED]
    assert outcomes[-1].error_code == "container_expired"
    assert "POST media_publish" not in sandbox.calls()


def test_quota_exhausted_defers_until_the_window_allows(driver: Driver, sandbox: Sandbox,
                                                        media_host: MediaHost) -> None:
    sandbox.control("config", quota_total=1)
    assert driver.run(post_of(media_host.jpeg("ast_1"), caption="first")).state == PublishState.PUBLISHED
    sandbox.advance(3600)
    post = post_of(media_host.jpeg("ast_2"), caption="second")
    ready = driver.run(post, until=lambda o: o.state == PublishState.CONTINUE and "container" in o.handle)
    sandbox.state.requests.clear()

    with pytest.raises(RateLimited) as info:
        driver.step(post, dict(ready.handle))
    assert info.value.code == "publishing_quota"
    # 24 h after the first post, minus the hour and the minute of polling that passed since
    assert 82735 <= (info.value.retry_after_s or 0) <= 82745
    assert "1 of its 1" in str(info.value)
    assert sandbox.calls() == ["GET container", "GET content_publishing_limit", "GET user_media"]

    sandbox.advance(info.value.retry_after_s or 0)
    outcome = driver.run(post, dict(ready.handle))
    assert outcome.state == PublishState.PUBLISHED
    assert sandbox.calls().count("POST media_publish") == 1


def _fault_on_create(driver: Driver, sandbox: Sandbox, media_host: MediaHost, **fault: object) -> ChannelError:
    sandbox.control("faults", endpoint="POST media", **fault)
    with pytest.raises(ChannelError) as info:
        driver.step(post_of(media_host.jpeg("ast_img")), {})
    return info.value


@pytest.mark.parametrize(("fault", "cls", "code"), [
    ({"kind": "server_error"}, TransientChannelError, "platform_unavailable"),
    ({"kind": "rate_limit"}, RateLimited, "rate_limited"),
    ({"kind": "rate_limit", "code": 17}, RateLimited, "rate_limited"),
    ({"kind": "rate_limit", "code": 32}, RateLimited, "rate_limited"),
    ({"kind": "rate_limit", "code": 613}, RateLimited, "rate_limited"),
    ({"kind": "expired_token"}, CredentialsExpired, "credentials_expired"),
    ({"kind": "invalid_token"}, ReauthorizationRequired, "reauthorization_required"),
    ({"kind": "error", "code": 10, "message": "(#10) permission denied"}, ReauthorizationRequired,
     "permission_missing"),
    ({"kind": "error", "code": -1, "subcode": 2207001}, TransientChannelError, "platform_unavailable"),
    ({"kind": "error", "code": -2, "subcode": 2207003}, TransientChannelError, "media_fetch_timeout"),
    ({"kind": "error", "code": 9, "subcode": 2207042}, RateLimited, "publishing_quota"),
    ({"kind": "error", "code": 9007, "subcode": 2207027}, TransientChannelError, "media_not_ready"),
    ({"kind": "error", "code": 4, "subcode": 2207051}, PermanentChannelError, "activity_restricted"),
    ({"kind": "error", "code": 25, "subcode": 2207050}, PermanentChannelError, "account_restricted"),
    ({"kind": "error", "code": 36004, "subcode": 2207010}, PermanentChannelError, "caption_rejected"),
    ({"kind": "error", "code": 100, "message": "(#100) Invalid parameter"}, PermanentChannelError,
     "platform_rejected"),
])
def test_error_mapping(driver: Driver, sandbox: Sandbox, media_host: MediaHost, fault: dict[str, object],
                       cls: type[ChannelError], code: str) -> None:
    error = _fault_on_create(driver, sandbox, media_host, **fault)
    assert type(error) is cls and error.code == code
    assert "Instagram error" in str(error) and error.platform_code


def test_rate_limit_uses_the_business_use_case_hint(driver: Driver, sandbox: Sandbox, media_host: MediaHost) -> None:
    error = _fault_on_create(driver, sandbox, media_host, kind="rate_limit", retry_after_minutes=7)
    assert isinstance(error, RateLimited) and error.retry_after_s == 420.0


def test_media_not_ready_on_publish_is_transient(driver: Driver, sandbox: Sandbox, media_host: MediaHost) -> None:
    post = post_of(media_host.jpeg("ast_img"))
    ready = driver.poll(post, dict(driver.step(post, {}).handle))
    sandbox.control("faults", kind="error", endpoint="POST media_publish", code=9007, subcode=2207027,
                    message="Media ID is not available")
    with pytest.raises(TransientChannelError) as info:
        driver.step(post, dict(ready.handle))
    assert info.value.code == "media_not_ready" and info.value.retry_after_s == 60.0


def test_timeout_after_media_publish_was_sent_is_outcome_unknown(driver: Driver, sandbox: Sandbox,
                                                                 media_host: MediaHost) -> None:
    post = post_of(media_host.jpeg("ast_img"))
    ready = driver.poll(post, dict(driver.step(post, {}).handle))
    sandbox.control("faults", kind="slow", endpoint="POST media_publish", delay_s=1.5)
    with pytest.raises(OutcomeUnknown):
        driver.step(post, dict(ready.handle))
    outcome = driver.reconcile(post, dict(ready.handle))
    assert outcome is not None and outcome.state == PublishState.PUBLISHED
    assert outcome.external_id in sandbox.state.media
    assert sandbox.calls().count("POST media_publish") == 1


def test_unreachable_instagram_is_transient(driver: Driver, media_host: MediaHost) -> None:
    from ig_support import settings_for

    import channels_instagram
    from plugins.manager import Channels, create_plugin_manager

    driver.channels = Channels(create_plugin_manager(load_entrypoints=False, extra=[channels_instagram]),
                               {"instagram": settings_for("http://127.0.0.1:9")})
    with pytest.raises(TransientChannelError) as info:
        driver.step(post_of(media_host.jpeg("ast_img")), {})
    assert not isinstance(info.value, OutcomeUnknown)


def test_pacer_defers_container_creation(driver: Driver, media_host: MediaHost) -> None:
    from plugins.testing import LocalPacer

    pacer = LocalPacer(clock=lambda: 1000.0)
    for _ in range(400):
        pacer.reserve("instagram:containers:instagram:17841400000000001", limit=400, period_s=86400.0)
    driver.pacer = pacer
    with pytest.raises(RateLimited) as info:
        driver.step(post_of(media_host.jpeg("ast_img")), {})
    assert info.value.code == "container_quota" and info.value.retry_after_s == 86400.0


def test_mp4_check_accepts_the_ftyp_header(media_host: MediaHost) -> None:
    from channels_instagram.sandbox.fetch import video_problem

    assert video_problem(media_host.video("ast_v", MP4_HEADER + bytes(10)).url, 5) is None
