"""POST /media and GET /media/{id}: typed from bytes, probed, capped, nothing left behind."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from core.models import MediaAsset
from tests import media_samples as samples
from tests.conftest import count_rows
from tests.media_samples import UPLOAD_URL, post_file
from tests.services import LoopbackServer

MAX_BYTES = 200_000


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    return {**app_config, "MARKAESTRO_MAX_UPLOAD_BYTES": MAX_BYTES}


@pytest.fixture
def media_dir(app_config: dict[str, Any]) -> Path:
    return Path(app_config["MARKAESTRO_MEDIA_DIR"])


def stored_files(root: Path) -> list[Path]:
    """Every file under ``root``, hidden temp files included."""
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def assert_nothing_left(sessions: Any, media_dir: Path) -> None:
    assert count_rows(sessions, MediaAsset) == 0
    assert stored_files(media_dir) == []


def test_upload_returns_the_media_object(client, tenant, sessions, media_dir):
    data = samples.jpeg((64, 48))
    response = post_file(client, tenant.headers, data, "launch-1.jpg")
    assert response.status_code == 201
    body = response.get_json()
    assert list(body) == ["id", "url", "kind", "mimeType", "sizeBytes", "width", "height", "durationSeconds",
                          "sha256", "filename", "createdAt"]
    assert body["id"].startswith("ast_")
    assert body["url"].startswith(f"http://media.test/media/{body['id']}/")
    assert body["url"].endswith(".jpg")
    assert (body["kind"], body["mimeType"], body["width"], body["height"]) == ("image", "image/jpeg", 64, 48)
    assert body["sizeBytes"] == len(data)
    assert body["sha256"] == hashlib.sha256(data).hexdigest()
    assert body["durationSeconds"] is None
    assert body["filename"] == "launch-1.jpg"
    assert body["createdAt"].endswith("Z")
    [stored] = stored_files(media_dir)
    assert stored.read_bytes() == data


@pytest.mark.parametrize(("make", "kind", "mime", "size", "duration"), [
    (samples.png_with_alpha, "image", "image/png", (32, 32), None),
    (samples.webp, "image", "image/webp", (40, 30), None),
    (samples.gif, "image", "image/gif", (20, 10), None),
    (samples.exif_rotated_jpeg, "image", "image/jpeg", (20, 40), None),
    (samples.cmyk_jpeg, "image", "image/jpeg", (16, 16), None),
    (lambda: samples.mp4(320, 240, 2000), "video", "video/mp4", (320, 240), 2.0),
    (lambda: samples.mp4(640, 360, 1500, brand=b"qt  "), "video", "video/quicktime", (640, 360), 1.5),
], ids=["png", "webp", "gif", "exif-rotated", "cmyk", "mp4", "mov"])
def test_supported_types_are_detected_and_measured(client, tenant, make, kind, mime, size, duration):
    body = post_file(client, tenant.headers, make(), "whatever.bin", "application/octet-stream").get_json()
    assert (body["kind"], body["mimeType"]) == (kind, mime)
    assert (body["width"], body["height"]) == size
    assert body["durationSeconds"] == duration


def test_type_comes_from_the_bytes_not_the_name_or_part_type(client, tenant):
    body = post_file(client, tenant.headers, samples.png_with_alpha(), "photo.jpg", "image/jpeg").get_json()
    assert body["mimeType"] == "image/png"
    assert body["url"].endswith(".png")
    assert body["filename"] == "photo.jpg"


@pytest.mark.parametrize(("data", "filename", "content_type"), [
    (samples.TEXT, "photo.jpg", "image/jpeg"),
    (samples.HTML, "page.png", "image/png"),
    (samples.SVG, "logo.png", "image/png"),
    (samples.PDF, "doc.jpg", "image/jpeg"),
    (b"", "empty.jpg", "image/jpeg"),
    (samples.ftyp(b"heic") + b"\0" * 64, "photo.jpg", "image/jpeg"),
    (samples.image_bytes("ICO", (16, 16)), "icon.png", "image/png"),
], ids=["text", "html", "svg", "pdf", "empty", "heic", "ico"])
def test_unsupported_bytes_are_415_and_never_stored(client, tenant, sessions, media_dir, data, filename,
                                                     content_type):
    response = post_file(client, tenant.headers, data, filename, content_type)
    assert response.status_code == 415
    assert response.content_type == "application/problem+json"
    assert response.get_json()["code"] == "unsupported_media_type"
    assert_nothing_left(sessions, media_dir)


@pytest.mark.parametrize(("data", "code"), [
    (samples.truncated_jpeg(), "media_undecodable"),
    (samples.GIF_SCRIPT_POLYGLOT, "media_undecodable"),
    (samples.mp4_without_moov(), "media_undecodable"),
    (b"\0\0\0\x10moov" + b"\0" * 64, "media_undecodable"),
    (samples.png_bomb(20000, 20000), "image_too_large"),
    (samples.png_bomb(10000, 10000), "image_too_large"),
], ids=["truncated-jpeg", "gif-polyglot", "mp4-no-moov", "no-ftyp", "png-bomb", "png-10k"])
def test_corrupt_media_and_bombs_are_422_with_nothing_left(client, tenant, sessions, media_dir, data, code):
    response = post_file(client, tenant.headers, data)
    assert response.status_code == 422
    problem = response.get_json()
    assert problem["code"] == code
    assert problem["type"].endswith(code.replace("_", "-"))
    assert_nothing_left(sessions, media_dir)


def test_png_bomb_is_68_bytes():
    assert len(samples.png_bomb()) == 68


def test_file_over_the_cap_is_413_with_nothing_left(client, tenant, sessions, media_dir):
    data = samples.jpeg() + b"\0" * MAX_BYTES
    response = post_file(client, tenant.headers, data)
    assert response.status_code == 413
    assert response.get_json()["code"] == "payload_too_large"
    assert_nothing_left(sessions, media_dir)


def test_file_of_exactly_the_cap_is_accepted(client, tenant):
    base = samples.jpeg()
    response = post_file(client, tenant.headers, base + b"\0" * (MAX_BYTES - len(base)))
    assert response.status_code == 201
    assert response.get_json()["sizeBytes"] == MAX_BYTES


def test_declared_content_length_over_the_cap_is_refused_before_reading(client, tenant, sessions, media_dir):
    response = client.post(UPLOAD_URL, headers=tenant.headers,
                           content_type="multipart/form-data; boundary=sampleboundary",
                           environ_overrides={"wsgi.input": _Unreadable(), "CONTENT_LENGTH": str(10 * MAX_BYTES)})
    assert response.status_code == 413
    assert response.get_json()["code"] == "payload_too_large"
    assert_nothing_left(sessions, media_dir)


class _Unreadable:
    """An input stream that fails the test if the view reads it."""

    def read(self, *_args: Any) -> bytes:
        raise AssertionError("the body was read")

    readline = read


@pytest.fixture
def live_url(app) -> Iterator[str]:
    """The app behind a real HTTP server (chunked request bodies are de-chunked by it)."""
    with LoopbackServer(app) as server:
        yield server.url


def _chunked(body: bytes, size: int = 16 * 1024) -> Iterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start:start + size]


def test_chunked_upload_without_content_length_is_streamed(live_url, tenant):
    data = samples.jpeg()
    response = requests.post(live_url + UPLOAD_URL, data=_chunked(samples.multipart_body(data)), timeout=30,
                             headers={**tenant.headers, "Content-Type": "multipart/form-data; boundary=sampleboundary"})
    assert response.status_code == 201
    assert response.json()["sha256"] == hashlib.sha256(data).hexdigest()


def test_chunked_upload_over_the_cap_is_413_with_nothing_left(live_url, tenant, sessions, media_dir):
    body = samples.multipart_body(samples.jpeg() + b"\0" * (2 * MAX_BYTES))
    response = requests.post(live_url + UPLOAD_URL, data=_chunked(body), timeout=30,
                             headers={**tenant.headers, "Content-Type": "multipart/form-data; boundary=sampleboundary"})
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"
    assert_nothing_left(sessions, media_dir)


@pytest.mark.parametrize(("filename", "kept"), [
    ("../../x.png", "x.png"),
    ("..\\..\\x.png", "x.png"),
    ("x.php%00.png", "x.php%00.png"),
    ("evil\u202egnp.exe", "evilgnp.exe"),
    ("a" * 5000 + ".png", "a" * 196 + ".png"),
    ("", ""),
], ids=["traversal", "backslashes", "nul-escape", "rtl-override", "5000-chars", "empty"])
def test_client_file_names_are_metadata_only(client, tenant, tmp_path, media_dir, filename, kept):
    response = post_file(client, tenant.headers, samples.png_with_alpha(), filename, "image/png")
    assert response.status_code == 201
    body = response.get_json()
    assert body["filename"] == kept
    [stored] = stored_files(media_dir)
    assert stored.name == f"{body['id']}.png"
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == [stored]


@pytest.mark.parametrize("kwargs", [
    {"data": {"other": "value"}, "content_type": "multipart/form-data"},
    {"json": {"file": "x"}},
    {"data": {"file": "not a file part"}, "content_type": "multipart/form-data"},
], ids=["other-field", "json-body", "plain-field"])
def test_missing_file_part_is_422_naming_file(client, tenant, sessions, media_dir, kwargs):
    response = client.post(UPLOAD_URL, headers=tenant.headers, **kwargs)
    assert response.status_code == 422
    problem = response.get_json()
    assert problem["code"] == "validation_failed"
    assert list(problem["errors"]) == ["file"]
    assert_nothing_left(sessions, media_dir)


def test_two_file_parts_are_422(client, tenant, sessions, media_dir):
    response = client.post(UPLOAD_URL, headers=tenant.headers, content_type="multipart/form-data", data={
        "file": [(io.BytesIO(samples.jpeg()), "a.jpg"), (io.BytesIO(samples.jpeg()), "b.jpg")],
    })
    assert response.status_code == 422
    assert list(response.get_json()["errors"]) == ["file"]
    assert_nothing_left(sessions, media_dir)


def test_too_many_parts_is_413(client, tenant, sessions, media_dir):
    fields = {f"f{i}": "x" for i in range(1001)}
    response = client.post(UPLOAD_URL, headers=tenant.headers, content_type="multipart/form-data",
                           data={**fields, "file": (io.BytesIO(samples.jpeg()), "a.jpg")})
    assert response.status_code == 413
    assert_nothing_left(sessions, media_dir)


def test_get_returns_the_same_object(client, tenant):
    created = post_file(client, tenant.headers, samples.mp4()).get_json()
    response = client.get(f"{UPLOAD_URL}/{created['id']}", headers=tenant.headers)
    assert response.status_code == 200
    assert response.get_json() == created


def test_another_workspaces_media_is_a_404_like_a_missing_one(client, tenant, other_tenant):
    created = post_file(client, other_tenant.headers, samples.jpeg()).get_json()
    foreign = client.get(f"{UPLOAD_URL}/{created['id']}", headers=tenant.headers)
    missing = client.get(f"{UPLOAD_URL}/ast_doesnotexist", headers=tenant.headers)
    assert foreign.status_code == missing.status_code == 404
    strip = lambda r: {k: v for k, v in r.get_json().items() if k not in ("requestId", "detail")}  # noqa: E731
    assert strip(foreign) == strip(missing)


def test_upload_needs_an_api_key(client, sessions, media_dir):
    response = post_file(client, {}, samples.jpeg())
    assert response.status_code == 401
    assert_nothing_left(sessions, media_dir)
