"""JPEG renditions for channels whose ``deliver_as`` excludes an image's type."""

from __future__ import annotations

import dataclasses
import hashlib
import io
from typing import Any
from urllib.parse import urlsplit

import pytest
from PIL import Image

from core.db import session_scope
from core.models import MediaAsset, MediaRendition
from core.services import media, renditions
from core.storage import LocalStorage
from plugins.testing import fake_channel
from plugins.types import ChannelSpec
from tests import media_samples as samples
from tests.conftest import count_rows
from tests.media_samples import post_file

PUBLIC_URL = "http://media.test"


def spec_delivering(*types: str) -> ChannelSpec:
    """The fake channel, with its images delivered only as ``types``."""
    rules = fake_channel.SPEC.rules
    assert rules.image is not None
    image = dataclasses.replace(rules.image, deliver_as=frozenset(types),
                                mime_types=rules.image.mime_types | {"image/gif"})
    return dataclasses.replace(fake_channel.SPEC, rules=dataclasses.replace(rules, image=image))


@pytest.fixture
def storage(app_config: dict[str, Any]) -> LocalStorage:
    return LocalStorage(app_config["MARKAESTRO_MEDIA_DIR"])


@pytest.fixture
def upload(client, tenant):
    def _upload(data: bytes) -> str:
        response = post_file(client, tenant.headers, data)
        assert response.status_code == 201
        return str(response.get_json()["id"])
    return _upload


def deliver(sessions: Any, storage: LocalStorage, spec: ChannelSpec, *asset_ids: str) -> tuple[Any, ...]:
    with session_scope(sessions) as session:
        assets = [session.get_one(MediaAsset, i) for i in asset_ids]
        return media.deliverable_media(session, storage, PUBLIC_URL, spec, assets)


def fetch_image(client, url: str) -> Image.Image:
    response = client.get(urlsplit(url).path)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "image/jpeg"
    return Image.open(io.BytesIO(response.data))


def rgb(image: Image.Image, xy: tuple[int, int]) -> tuple[int, int, int]:
    red, green, blue = image.getpixel(xy)  # type: ignore[misc]
    return int(red), int(green), int(blue)


def close(pixel: tuple[int, ...], expected: tuple[int, int, int], tolerance: int = 12) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel, expected, strict=True))


def test_png_with_alpha_becomes_a_jpeg_flattened_on_white(client, sessions, storage, upload):
    original = samples.png_with_alpha((32, 32))
    asset_id = upload(original)
    [item] = deliver(sessions, storage, spec_delivering("image/jpeg"), asset_id)
    assert (item.id, item.mime_type, item.width, item.height) == (asset_id, "image/jpeg", 32, 32)
    assert item.url.endswith("-rendition.jpg")
    image = fetch_image(client, item.url)
    assert image.format == "JPEG" and image.mode == "RGB"
    assert close(rgb(image, (4, 16)), samples.BLUE)
    assert close(rgb(image, (28, 16)), (255, 255, 255))
    with item.open() as handle:
        stored = handle.read()
    assert (len(stored), hashlib.sha256(stored).hexdigest()) == (item.size_bytes, item.sha256)


def test_original_stays_untouched_and_served_as_uploaded(client, sessions, storage, upload):
    original = samples.png_with_alpha()
    asset_id = upload(original)
    deliver(sessions, storage, spec_delivering("image/jpeg"), asset_id)
    with session_scope(sessions) as session:
        asset = session.get(MediaAsset, asset_id)
        assert asset is not None
    served = client.get(urlsplit(f"{PUBLIC_URL}/media/{asset.storage_key}").path)
    assert served.headers["Content-Type"] == "image/png"
    assert served.data == original


def test_exif_orientation_is_applied(client, sessions, storage, upload):
    asset_id = upload(samples.exif_rotated_jpeg())  # stored 40x20, red left half, viewed rotated 90° clockwise
    [item] = deliver(sessions, storage, spec_delivering("image/webp"), asset_id)
    image = fetch_image(client, item.url)
    assert image.size == (item.width, item.height) == (20, 40)
    assert close(rgb(image, (10, 5)), samples.RED, 40)
    assert close(rgb(image, (10, 34)), samples.BLUE, 40)
    assert 0x0112 not in image.getexif()


def test_rgb_icc_profile_is_kept(client, sessions, storage, upload):
    icc = samples.srgb_icc()
    asset_id = upload(samples.png_with_icc(icc))
    [item] = deliver(sessions, storage, spec_delivering("image/jpeg"), asset_id)
    image = fetch_image(client, item.url)
    assert image.info.get("icc_profile") == icc
    assert close(rgb(image, (8, 8)), samples.GREEN)


def test_cmyk_jpeg_is_converted_to_rgb(client, sessions, storage, upload):
    asset_id = upload(samples.cmyk_jpeg())
    [item] = deliver(sessions, storage, spec_delivering("image/webp"), asset_id)
    image = fetch_image(client, item.url)
    assert image.mode == "RGB"
    red, green, blue = rgb(image, (8, 8))
    assert red < 60 and green > 200 and blue > 200  # cyan


def test_rendition_is_made_once_and_cached(sessions, storage, upload):
    asset_id = upload(samples.gif())
    spec = spec_delivering("image/jpeg")
    [first] = deliver(sessions, storage, spec, asset_id)
    [again] = deliver(sessions, storage, spec, asset_id)
    assert first.url == again.url and first.sha256 == again.sha256
    assert count_rows(sessions, MediaRendition) == 1


def test_concurrent_makers_end_with_one_rendition(backend, sessions, storage, upload, monkeypatch):
    if backend == "sqlite":
        pytest.skip("SQLite serialises writers (BEGIN IMMEDIATE): a second maker waits, then finds the row")
    asset_id = upload(samples.webp())
    spec = spec_delivering("image/jpeg")
    real_render = renditions.render_jpeg
    made_by_other: list[str] = []

    def render_while_another_worker_wins(source, pillow_format):
        monkeypatch.setattr(renditions, "render_jpeg", real_render)
        [other] = deliver(sessions, storage, spec, asset_id)  # the other maker commits first
        made_by_other.append(other.url)
        return real_render(source, pillow_format)

    monkeypatch.setattr(renditions, "render_jpeg", render_while_another_worker_wins)
    [item] = deliver(sessions, storage, spec, asset_id)
    assert made_by_other == [item.url]
    assert count_rows(sessions, MediaRendition) == 1


@pytest.mark.parametrize(("make", "deliver_as"), [
    (samples.jpeg, ("image/jpeg",)),
    (samples.png_with_alpha, ()),
    (samples.mp4, ("image/jpeg",)),
], ids=["type-accepted", "no-deliver-as", "video"])
def test_no_rendition_when_the_channel_takes_the_original(sessions, storage, upload, make, deliver_as):
    asset_id = upload(make())
    [item] = deliver(sessions, storage, spec_delivering(*deliver_as), asset_id)
    with session_scope(sessions) as session:
        asset = session.get(MediaAsset, asset_id)
        assert asset is not None
        assert (item.url, item.mime_type, item.sha256) == (f"{PUBLIC_URL}/media/{asset.storage_key}",
                                                           asset.mime_type, asset.sha256)
    assert count_rows(sessions, MediaRendition) == 0


def test_order_is_kept_across_mixed_assets(sessions, storage, upload):
    ids = [upload(samples.png_with_alpha()), upload(samples.jpeg()), upload(samples.webp())]
    items = deliver(sessions, storage, spec_delivering("image/jpeg"), *ids)
    assert [i.id for i in items] == ids
    assert {i.mime_type for i in items} == {"image/jpeg"}
