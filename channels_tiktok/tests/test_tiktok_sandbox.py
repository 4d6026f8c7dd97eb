"""The sandbox rejects what TikTok rejects (raw HTTP, no plugin code involved)."""

from __future__ import annotations

from importlib import metadata

import requests
from tiktok_support import Sandbox

import channels_tiktok
from plugins.manager import Channels, create_plugin_manager

MiB = 1024 * 1024


def auth(sandbox: Sandbox) -> dict[str, str]:
    return {"Authorization": f"Bearer {sandbox.state.issue_tokens()['access_token']}"}


def init(sandbox: Sandbox, headers: dict[str, str], size: int, chunk: int, count: int) -> requests.Response:
    body = {"source_info": {"source": "FILE_UPLOAD", "video_size": size, "chunk_size": chunk,
                            "total_chunk_count": count}}
    return requests.post(f"{sandbox.url}/v2/post/publish/inbox/video/init/", json=body, headers=headers, timeout=5)


def put(url: str, first: int, last: int, total: int, body: bytes | None = None,
        content_type: str = "video/mp4") -> requests.Response:
    data = body if body is not None else b"\0" * (last - first + 1)
    headers = {"Content-Type": content_type, "Content-Range": f"bytes {first}-{last}/{total}"}
    return requests.put(url, data=data, headers=headers, timeout=5)


def test_envelope_and_missing_token(sandbox: Sandbox) -> None:
    answer = init(sandbox, {}, 1000, 1000, 1)
    assert answer.status_code == 401
    error = answer.json()["error"]
    assert error["code"] == "access_token_invalid" and len(error["log_id"]) == 32


def test_chunk_rules_enforced(sandbox: Sandbox) -> None:
    headers = auth(sandbox)
    assert init(sandbox, headers, 50_000_123, 10_000_000, 4).json()["error"]["code"] == "invalid_param"
    assert init(sandbox, headers, 20 * MiB, 1 * MiB, 20).status_code == 400
    assert init(sandbox, headers, 100 * MiB, 100 * MiB, 1).status_code == 400
    good = init(sandbox, headers, 50_000_123, 10_000_000, 5)
    assert good.status_code == 200 and good.json()["data"]["publish_id"].startswith("v_inbox_file~v2.")


def test_upload_order_length_and_type(sandbox: Sandbox) -> None:
    size = 11 * MiB
    url = init(sandbox, auth(sandbox), size, 5 * MiB, 2).json()["data"]["upload_url"]
    assert put(url, 5 * MiB, size - 1, size).status_code == 416
    assert put(url, 0, 5 * MiB - 1, size, content_type="application/octet-stream").status_code == 400
    assert put(url, 0, 4 * MiB - 1, size).status_code == 400  # not the planned chunk size
    first = put(url, 0, 5 * MiB - 1, size)
    assert first.status_code == 206 and first.headers["Content-Range"] == f"bytes 0-{5 * MiB - 1}/{size}"
    retry = put(url, 0, 5 * MiB - 1, size)
    assert retry.status_code == 416 and retry.headers["Content-Range"] == f"bytes 0-{5 * MiB - 1}/{size}"
    assert put(url, 5 * MiB, size - 1, size).status_code == 201
    assert requests.put(url.replace("upload_token=", "upload_token=x"), data=b"1", timeout=5).status_code == 404


def test_status_is_per_creator(sandbox: Sandbox) -> None:
    publish_id = init(sandbox, auth(sandbox), 1000, 1000, 1).json()["data"]["publish_id"]
    answer = requests.post(f"{sandbox.url}/v2/post/publish/status/fetch/", json={"publish_id": publish_id},
                           headers=auth(sandbox), timeout=5)
    assert answer.json()["error"]["code"] == "token_not_authorized_for_specified_publish_id"


def test_creator_publishes_later(sandbox: Sandbox) -> None:
    headers = auth(sandbox)
    data = init(sandbox, headers, 1000, 1000, 1).json()["data"]
    put(data["upload_url"], 0, 999, 1000)
    sandbox.state.config.publish_after_s = 0.0
    answer = requests.post(f"{sandbox.url}/v2/post/publish/status/fetch/", json={"publish_id": data["publish_id"]},
                           headers=headers, timeout=5).json()["data"]
    assert answer["status"] == "PUBLISH_COMPLETE" and len(answer["publicaly_available_post_id"]) == 1


def test_control_api(sandbox: Sandbox) -> None:
    tokens = requests.post(f"{sandbox.url}/_sandbox/tokens", json={}, timeout=5).json()
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    requests.post(f"{sandbox.url}/_sandbox/faults", json={"endpoint": "video_init", "fault": "rate_limit"}, timeout=5)
    assert init(sandbox, headers, 1000, 1000, 1).status_code == 429
    data = init(sandbox, headers, 1000, 1000, 1).json()["data"]
    complete = requests.post(f"{sandbox.url}/_sandbox/publishes/{data['publish_id']}/complete", timeout=5)
    assert complete.status_code == 200
    log = requests.get(f"{sandbox.url}/_sandbox/requests", timeout=5).json()["requests"]
    assert log == ["POST /v2/post/publish/inbox/video/init/ 429 rate_limit_exceeded",
                   "POST /v2/post/publish/inbox/video/init/ 200 ok"]


def test_registered_as_sandbox_and_entry_point() -> None:
    channels = Channels(create_plugin_manager(load_entrypoints=False, extra=[channels_tiktok]))
    [sandbox] = channels.sandboxes()
    assert sandbox.name == "tiktok" and "MARKAESTRO_TIKTOK_API_URL" in sandbox.settings_env
    assert callable(sandbox.app)
    names = {ep.name: ep.value for ep in metadata.entry_points(group="markaestro")}
    assert names.get("tiktok") == "channels_tiktok"


def test_works_mounted_under_a_prefix(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """``markaestro dev`` may serve sandboxes under ``/sandbox/<name>/``; upload URLs keep the prefix."""
    from channels_tiktok.sandbox import SandboxConfig, create_app, sandbox_state
    from tiktok_support import serve, video_post
    from werkzeug.middleware.dispatcher import DispatcherMiddleware
    from werkzeug.wrappers import Response

    from plugins.testing import LocalPacer
    from plugins.types import Credentials, Destination, PublishState

    app = create_app(SandboxConfig(processing_delay_s=0.0))
    server, url = serve(DispatcherMiddleware(Response("core", 404), {"/sandbox/tiktok": app}))
    try:
        settings = {"api_url": f"{url}/sandbox/tiktok"}
        channels = Channels(create_plugin_manager(load_entrypoints=False, extra=[channels_tiktok]),
                            settings={"tiktok": settings})
        kwargs = {"destination": Destination("tiktok", "tiktok", "dev"), "post": video_post(tmp_path, 4096),
                  "credentials": Credentials("act.dev-token"), "pacer": LocalPacer()}
        init = channels.publish_step("tiktok", handle={}, **kwargs)
        assert init.handle["upload_url"].startswith(f"{url}/sandbox/tiktok/upload/video/?upload_id=")
        upload = channels.publish_step("tiktok", handle=init.handle, **kwargs)
        assert channels.poll_publish("tiktok", handle=upload.handle, **kwargs).state == PublishState.HANDED_OFF
        assert len(sandbox_state(app).calls()) == 3
    finally:
        server.shutdown()
