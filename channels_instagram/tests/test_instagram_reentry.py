"""Crashes and re-entry: a stored container is re-polled, and never published twice."""

from __future__ import annotations

from ig_support import Driver, MediaHost, Sandbox, post_of

from plugins.types import PublishOutcome, PublishState


def _ready(driver: Driver, post: object) -> PublishOutcome:
    """Run until the next publish_step would call media_publish."""
    return driver.run(post, until=lambda o: o.state == PublishState.CONTINUE and "container" in o.handle  # type: ignore[arg-type]
                      and "media_id" not in o.handle)


def test_crash_after_media_publish_re_entry_reports_published(driver: Driver, sandbox: Sandbox,
                                                              media_host: MediaHost) -> None:
    post = post_of(media_host.jpeg("ast_img"), caption="crash test")
    ready = _ready(driver, post)
    driver.step(post, dict(ready.handle))  # media_publish went through; the worker dies before storing the handle
    sandbox.state.requests.clear()

    again = driver.step(post, dict(ready.handle))  # the core runs the step again with the stored handle

    assert again.state == PublishState.PUBLISHED
    [media] = sandbox.state.media.values()
    assert again.external_id == media.id and again.url == media.permalink
    assert sandbox.calls() == ["GET container", "GET user_media"]


def test_reconcile_after_crash_finds_the_media(driver: Driver, sandbox: Sandbox, media_host: MediaHost) -> None:
    items = [media_host.jpeg("ast_a"), media_host.video("ast_b")]
    post = post_of(*items, caption="carousel crash")
    ready = _ready(driver, post)
    driver.step(post, dict(ready.handle))
    sandbox.state.requests.clear()

    outcome = driver.reconcile(post, dict(ready.handle))

    assert outcome is not None and outcome.state == PublishState.PUBLISHED
    [media] = sandbox.state.media.values()
    assert outcome.external_id == media.id and outcome.handle["media_id"] == media.id
    assert sandbox.calls() == ["GET container", "GET user_media"]
    assert all(not e.startswith("POST") for e in sandbox.calls())


def test_reconcile_when_media_publish_never_arrived(driver: Driver, sandbox: Sandbox, media_host: MediaHost) -> None:
    post = post_of(media_host.jpeg("ast_img"))
    ready = _ready(driver, post)
    outcome = driver.reconcile(post, dict(ready.handle))
    assert outcome is not None and outcome.state == PublishState.CONTINUE and outcome.handle == ready.handle
    assert driver.run(post, dict(outcome.handle)).state == PublishState.PUBLISHED
    assert sandbox.calls().count("POST media_publish") == 1


def test_crash_between_container_creation_and_publish(driver: Driver, sandbox: Sandbox,
                                                      media_host: MediaHost) -> None:
    post = post_of(media_host.video("ast_vid"), caption="reel crash")
    created = driver.step(post, {})  # the container exists; the worker dies while it processes
    sandbox.advance(120)
    sandbox.state.requests.clear()

    outcome = driver.run(post, dict(created.handle))  # re-entry with the stored handle re-polls it

    assert outcome.state == PublishState.PUBLISHED
    assert sandbox.calls() == ["GET container", "GET container", "GET content_publishing_limit",
                               "POST media_publish", "GET media_object"]
    assert len(sandbox.state.containers) == 1


def test_interrupted_container_creation_is_repeated(driver: Driver, media_host: MediaHost) -> None:
    post = post_of(media_host.jpeg("ast_a"), media_host.jpeg("ast_b"))
    first = driver.step(post, {})
    outcome = driver.reconcile(post, dict(first.handle))
    assert outcome is not None and outcome.state == PublishState.CONTINUE and outcome.handle == first.handle
    assert "harmless" in outcome.detail


def test_poll_sees_published_container(driver: Driver, sandbox: Sandbox, media_host: MediaHost) -> None:
    post = post_of(media_host.jpeg("ast_img"), caption="poll after publish")
    ready = _ready(driver, post)
    driver.step(post, dict(ready.handle))
    stale = {k: v for k, v in ready.handle.items() if k != "finished"}
    outcome = driver.poll(post, stale)
    assert outcome.state == PublishState.PUBLISHED and outcome.external_id in sandbox.state.media


def test_sandbox_refuses_a_second_media_publish(driver: Driver, sandbox: Sandbox, media_host: MediaHost) -> None:
    import requests

    post = post_of(media_host.jpeg("ast_img"))
    ready = _ready(driver, post)
    driver.step(post, dict(ready.handle))
    answer = requests.post(f"{sandbox.url}/v25.0/17841400000000001/media_publish",
                           data={"creation_id": ready.handle["container"], "access_token": "t"}, timeout=5)
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == 9007 and answer.json()["error"]["error_subcode"] == 2207027
    assert len(sandbox.state.media) == 1


def test_permalink_read_retries_alone(driver: Driver, sandbox: Sandbox, media_host: MediaHost) -> None:
    post = post_of(media_host.jpeg("ast_img"))
    ready = _ready(driver, post)
    published = driver.step(post, dict(ready.handle))
    assert published.retry_safe and published.handle["media_id"]
    sandbox.state.requests.clear()
    assert driver.step(post, dict(published.handle)).state == PublishState.PUBLISHED
    assert sandbox.calls() == ["GET media_object"]
