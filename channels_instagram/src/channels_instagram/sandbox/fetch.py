"""Fetching and checking hosted media the way Instagram does ("We cURL media").

Images (synchronous, at container creation, reference §2.8/§2.9): the URL must
answer 200 (else 9004/2207052), be at most 8 MiB (36000/2207004), start with
the JPEG signature ``FF D8 FF`` (36001/2207005) and decode with an aspect ratio
within 4:5..1.91:1 (36003/2207009).

Videos (found while "processing", so the container ends ``ERROR``): the URL
must answer 200 (2207052), be at most 300 MiB and carry an ISO-BMFF ``ftyp``
box at byte 4, as MP4 and MOV files do (2207026). Codecs and durations are
not inspected.
"""

from __future__ import annotations

import io

import requests
from PIL import Image

from .model import GraphFault

MiB = 2**20
IMAGE_MAX = 8 * MiB
VIDEO_MAX = 300 * MiB
MIN_RATIO, MAX_RATIO = 0.8, 1.91


def _fetch_error(url: str) -> GraphFault:
    return GraphFault(f"The media could not be fetched from this uri: {url}", code=9004, subcode=2207052,
                      user_title="Media download has failed.",
                      user_msg="The media could not be fetched from this URI. Check that it is publicly reachable.")


def _download(url: str, limit: int, timeout_s: float, keep: int | None = None) -> tuple[bytes, int]:
    """Up to ``keep`` leading bytes (all by default) and the size read (stops past ``limit``).

    Fetch failures raise 9004/2207052.
    """
    try:
        with requests.get(url, stream=True, timeout=timeout_s) as response:
            if response.status_code != 200:
                raise _fetch_error(url)
            data, size = bytearray(), 0
            for chunk in response.iter_content(64 * 1024):
                size += len(chunk)
                if keep is None or len(data) < keep:
                    data.extend(chunk)
                if size > limit:
                    break
            return bytes(data), size
    except requests.RequestException as exc:
        raise _fetch_error(url) from exc


def check_image(url: str, timeout_s: float) -> None:
    """Raise the Graph error Instagram gives for an unusable ``image_url``."""
    data, size = _download(url, IMAGE_MAX, timeout_s)
    if size > IMAGE_MAX:
        raise GraphFault("The image size is too large.", code=36000, subcode=2207004,
                         user_title="Image size too large",
                         user_msg="The image is too large to download. It should be less than 8 MiB.")
    if not data.startswith(b"\xff\xd8\xff"):
        raise GraphFault("The image format is not supported.", code=36001, subcode=2207005,
                         user_title="Unsupported image format",
                         user_msg="The image format is not supported. Supported formats are: JPEG")
    _check_ratio(data)


def _check_ratio(data: bytes) -> None:
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
    except (OSError, ValueError) as exc:
        raise GraphFault("The image format is not supported.", code=36001, subcode=2207005) from exc
    ratio = width / height
    if not MIN_RATIO - 1e-3 <= ratio <= MAX_RATIO + 1e-3:
        raise GraphFault(f"The submitted image with aspect ratio ('{width}/{height}') cannot be published. "
                         "Please submit an image with a valid aspect ratio.", code=36003, subcode=2207009,
                         user_title="Invalid aspect ratio",
                         user_msg="The aspect ratio is not supported. It must be between 4:5 and 1.91:1.")


def video_problem(url: str, timeout_s: float) -> str | None:
    """The container ``status`` text a bad ``video_url`` ends with, or ``None`` when it is usable."""
    try:
        data, size = _download(url, VIDEO_MAX, timeout_s, keep=12)
    except GraphFault:
        return "Error: Media download has failed with error code 2207052"
    if size > VIDEO_MAX or data[4:8] != b"ftyp":
        return "Error: Media upload has failed with error code 2207026"
    return None
