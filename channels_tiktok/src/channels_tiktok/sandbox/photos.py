"""Photo post checks and the PULL_FROM_URL fetch of the sandbox (platforms.md §4.5).

The sandbox really downloads each URL, as TikTok does, and fails the
publish (visible in ``status/fetch``) the way TikTok would: ``photo_pull_failed``
when a URL cannot be fetched, ``file_format_check_failed`` for anything but
JPEG or WebP, ``picture_size_check_failed`` above 1080p or 20 MB.
"""

from __future__ import annotations

import io
from typing import Any

import requests
from PIL import Image

from .common import ApiError
from .state import Publish

MAX_PHOTOS = 35
MAX_BYTES = 20 * 1024 * 1024
TITLE_MAX, DESCRIPTION_MAX = 90, 4000
FETCH_TIMEOUT_S = (5.0, 30.0)


def _utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _object(body: dict[str, Any], key: str) -> dict[str, Any]:
    value = body.get(key)
    return value if isinstance(value, dict) else {}


def check_request(body: dict[str, Any]) -> list[str]:
    """Validate a ``content/init`` body; return the image URLs or raise 400 ``invalid_param``."""
    source = _object(body, "source_info")
    images = source.get("photo_images")
    cover = source.get("photo_cover_index")
    post_info = _object(body, "post_info")
    rules = [
        (body.get("media_type") == "PHOTO", "media_type must be PHOTO."),
        (body.get("post_mode") in ("DIRECT_POST", "MEDIA_UPLOAD"), "post_mode must be DIRECT_POST or MEDIA_UPLOAD."),
        (source.get("source") == "PULL_FROM_URL", "source_info.source must be PULL_FROM_URL."),
        (isinstance(images, list) and 1 <= len(images) <= MAX_PHOTOS
         and all(isinstance(u, str) and u for u in images), "photo_images must hold 1 to 35 URLs."),
        (isinstance(cover, int) and isinstance(images, list) and 0 <= cover < len(images),
         "photo_cover_index is required and must index photo_images."),
        (_utf16(str(post_info.get("title", ""))) <= TITLE_MAX, "post_info.title exceeds 90 characters."),
        (_utf16(str(post_info.get("description", ""))) <= DESCRIPTION_MAX,
         "post_info.description exceeds 4000 characters."),
    ]
    for holds, message in rules:
        if not holds:
            raise ApiError("invalid_param", 400, message)
    return list(images) if isinstance(images, list) else []


def pull(publish: Publish, urls: list[str], *, fetch: bool) -> None:
    """Download every photo, recording bytes and the first failure on ``publish``."""
    if not fetch:
        return
    with requests.Session() as session:
        for url in urls:
            reason = _pull_one(session, url, publish)
            if reason:
                publish.fail_reason = publish.fail_reason or reason
                return


def _pull_one(session: requests.Session, url: str, publish: Publish) -> str | None:
    try:
        with session.get(url, timeout=FETCH_TIMEOUT_S, stream=True, allow_redirects=False) as response:
            if response.status_code != 200:
                return "photo_pull_failed"
            data = response.raw.read(MAX_BYTES + 1, decode_content=True)
    except requests.RequestException:
        return "photo_pull_failed"
    publish.downloaded += len(data)
    return _check_image(data)


def _check_image(data: bytes) -> str | None:
    if len(data) > MAX_BYTES:
        return "picture_size_check_failed"
    is_jpeg = data[:3] == b"\xff\xd8\xff"
    is_webp = data[:4] == b"RIFF" and data[8:12] == b"WEBP"
    if not (is_jpeg or is_webp):
        return "file_format_check_failed"
    try:
        width, height = Image.open(io.BytesIO(data)).size
    except Exception:
        return "file_format_check_failed"
    short, long = sorted((width, height))
    return "picture_size_check_failed" if short > 1080 or long > 1920 else None
