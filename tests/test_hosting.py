"""Hosted media URLs: public, typed, nosniff, ETag/304, HEAD and byte ranges, 404 otherwise."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests import media_samples as samples
from tests.media_samples import post_file


@pytest.fixture
def jpeg_bytes() -> bytes:
    return samples.jpeg((50, 40))


@pytest.fixture
def hosted(client, tenant, jpeg_bytes) -> dict[str, Any]:
    """The uploaded JPEG's media object, with ``path`` = its hosted URL's path."""
    body = post_file(client, tenant.headers, jpeg_bytes, "holiday photo.jpg").get_json()
    return {**body, "path": urlsplit(body["url"]).path}


def test_hosted_url_serves_the_bytes_without_auth_and_with_safe_headers(client, hosted, jpeg_bytes):
    response = client.get(hosted["path"])
    assert response.status_code == 200
    assert response.data == jpeg_bytes
    assert response.headers["Content-Type"] == "image/jpeg"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Content-Length"] == str(len(jpeg_bytes))
    assert response.headers["ETag"] == f'"{hashlib.sha256(jpeg_bytes).hexdigest()}"'
    assert response.headers["Content-Disposition"] == f'inline; filename="{hosted["id"]}.jpg"'
    assert "max-age" in response.headers["Cache-Control"]
    assert response.headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert response.headers["Accept-Ranges"] == "bytes"


def test_hosted_path_is_unguessable(hosted):
    asset_id, token, name = hosted["path"].removeprefix("/media/").split("/")
    assert asset_id == hosted["id"]
    assert len(token) == 32 and set(token) <= set("0123456789abcdef")  # 128 random bits
    assert name == f"{hosted['id']}.jpg"


def test_head_gives_the_headers_without_a_body(client, hosted, jpeg_bytes):
    response = client.head(hosted["path"])
    assert response.status_code == 200
    assert response.data == b""
    assert response.headers["Content-Length"] == str(len(jpeg_bytes))
    assert response.headers["Content-Type"] == "image/jpeg"


def test_range_gives_206_with_the_slice(client, hosted, jpeg_bytes):
    response = client.get(hosted["path"], headers={"Range": "bytes=2-9"})
    assert response.status_code == 206
    assert response.data == jpeg_bytes[2:10]
    assert response.headers["Content-Range"] == f"bytes 2-9/{len(jpeg_bytes)}"
    assert response.headers["Content-Length"] == "8"


def test_suffix_range_gives_the_tail(client, hosted, jpeg_bytes):
    response = client.get(hosted["path"], headers={"Range": "bytes=-5"})
    assert response.status_code == 206
    assert response.data == jpeg_bytes[-5:]


def test_unsatisfiable_range_is_416_problem(client, hosted, jpeg_bytes):
    response = client.get(hosted["path"], headers={"Range": f"bytes={len(jpeg_bytes) + 10}-"})
    assert response.status_code == 416
    assert response.content_type == "application/problem+json"
    assert response.get_json()["code"] == "range_not_satisfiable"
    assert response.headers["Content-Range"] == f"bytes */{len(jpeg_bytes)}"


def test_matching_if_none_match_is_304(client, hosted):
    etag = client.get(hosted["path"]).headers["ETag"]
    response = client.get(hosted["path"], headers={"If-None-Match": etag})
    assert response.status_code == 304
    assert response.data == b""
    stale = client.get(hosted["path"], headers={"If-None-Match": '"other"'})
    assert stale.status_code == 200


@pytest.mark.parametrize("mutate", [
    lambda p: p.rsplit("/", 2)[0] + "/" + "0" * 32 + "/" + p.rsplit("/", 1)[1],
    lambda p: p.rsplit("/", 1)[0],
    lambda p: "/media/",
    lambda p: "/media/../secret.key",
], ids=["wrong-token", "directory", "root", "traversal"])
def test_unknown_paths_are_404_problem(client, hosted, mutate):
    response = client.get(mutate(hosted["path"]))
    assert response.status_code == 404
    assert response.content_type == "application/problem+json"


def test_stored_bytes_without_a_row_are_not_served(client, app_config):
    orphan = Path(app_config["MARKAESTRO_MEDIA_DIR"]) / "ast_x" / ("a" * 32) / "ast_x.jpg"
    orphan.parent.mkdir(parents=True)
    orphan.write_bytes(samples.jpeg())
    assert client.get(f"/media/ast_x/{'a' * 32}/ast_x.jpg").status_code == 404


@pytest.mark.parametrize(("make", "mime"), [(samples.mp4, "video/mp4"), (samples.webp, "image/webp")])
def test_served_type_is_the_detected_one(client, tenant, make, mime):
    body = post_file(client, tenant.headers, make(), "page.html", "text/html").get_json()
    response = client.get(urlsplit(body["url"]).path)
    assert response.headers["Content-Type"] == mime
    assert response.headers["X-Content-Type-Options"] == "nosniff"
