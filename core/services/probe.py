"""What an upload is, decided from its bytes, and its dimensions.

:func:`detect` looks only at the first :data:`HEAD_BYTES` bytes (magic
numbers; ISO BMFF ``ftyp`` brands for video) and never at a name or a
client-supplied Content-Type. :func:`probe` then decodes the stored file:
images fully with Pillow under a pixel cap (decompression bombs are refused
from the header, before any raster is allocated), videos with pymediainfo
(libmediainfo bundled in its wheel) for width, height and duration.
"""

from __future__ import annotations

import struct
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO

from PIL import Image, ImageSequence, UnidentifiedImageError
from pymediainfo import MediaInfo

from ..errors import Unprocessable, UnsupportedMediaType

HEAD_BYTES = 64
#: Largest image accepted, in pixels (8000 x 8000; above any phone camera).
IMAGE_MAX_PIXELS = 64_000_000
#: Budget of decoded pixels over all frames of an animated image.
ANIMATION_MAX_PIXELS = 4 * IMAGE_MAX_PIXELS

MP4_BRANDS = frozenset({b"isom", b"iso2", b"iso3", b"iso4", b"iso5", b"iso6", b"mp41", b"mp42", b"mp71",
                        b"avc1", b"dash", b"M4V ", b"M4VH", b"M4VP", b"mmp4", b"MSNV", b"NDAS", b"XAVC"})
QUICKTIME_BRAND = b"qt  "
#: Brands of still-image formats that share the ISO BMFF container (HEIF, AVIF, ...).
STILL_BRANDS = frozenset({b"mif1", b"msf1", b"heic", b"heix", b"hevc", b"avif", b"avis", b"crx ", b"jp2 "})
#: Leading box types of QuickTime-style files that lack the ``ftyp`` header.
HEADERLESS_BOXES = frozenset({b"moov", b"mdat", b"free", b"skip", b"wide", b"pnot"})


@dataclass(frozen=True)
class Detected:
    """A supported type recognised from the leading bytes."""

    mime_type: str
    kind: str  #: ``"image"`` or ``"video"``
    extension: str
    pillow_format: str | None = None  #: the only Pillow decoder allowed for it


@dataclass(frozen=True)
class Probed:
    """Display dimensions (orientation applied) and, for videos, duration."""

    width: int
    height: int
    duration_seconds: float | None = None


JPEG = Detected("image/jpeg", "image", "jpg", "JPEG")
PNG = Detected("image/png", "image", "png", "PNG")
GIF = Detected("image/gif", "image", "gif", "GIF")
WEBP = Detected("image/webp", "image", "webp", "WEBP")
MP4 = Detected("video/mp4", "video", "mp4")
MOV = Detected("video/quicktime", "video", "mov")
EXTENSIONS = {d.mime_type: d.extension for d in (JPEG, PNG, GIF, WEBP, MP4, MOV)}

UNSUPPORTED = ("The file is not a supported image (JPEG, PNG, WebP, GIF) or video (MP4, QuickTime); "
               "the type is decided from its bytes, not its name.")


def detect(head: bytes) -> Detected:
    """The type of a file starting with ``head``; :class:`UnsupportedMediaType` otherwise."""
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return GIF
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return WEBP
    box_type = head[4:8]
    if box_type == b"ftyp":
        return _detect_bmff(head)
    if box_type in HEADERLESS_BOXES:
        raise _undecodable("The video has no valid header (ftyp box); re-export it as MP4.")
    raise UnsupportedMediaType(UNSUPPORTED)


def _detect_bmff(head: bytes) -> Detected:
    box_size = struct.unpack(">I", head[:4])[0]
    major = head[8:12]
    compatible = {head[i:i + 4] for i in range(16, min(box_size, len(head)) - 3, 4)}
    if major == QUICKTIME_BRAND:
        return MOV
    if major in MP4_BRANDS:
        return MP4
    if major not in STILL_BRANDS and not compatible & STILL_BRANDS and compatible & MP4_BRANDS:
        return MP4
    raise UnsupportedMediaType(UNSUPPORTED)


def probe(opener: Callable[[], IO[bytes]], detected: Detected) -> Probed:
    """Decode the file ``opener`` returns and measure it.

    :raises Unprocessable: ``image_too_large`` for decompression bombs,
        ``media_undecodable`` for corrupt or truncated files.
    """
    with opener() as handle:
        if detected.kind == "image":
            return _probe_image(handle, detected)
        return _probe_video(handle)


def _probe_image(handle: IO[bytes], detected: Detected) -> Probed:
    assert detected.pillow_format is not None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(handle, formats=[detected.pillow_format]) as image:
                _check_pixels(image.width, image.height)
                _decode_all_frames(image)
                return Probed(*_display_size(image))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise _too_large(IMAGE_MAX_PIXELS) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError, struct.error):
        raise _undecodable("The image is corrupt or truncated and cannot be decoded.") from None


def _check_pixels(width: int, height: int, frames: int = 1) -> None:
    if width * height > IMAGE_MAX_PIXELS:
        raise _too_large(IMAGE_MAX_PIXELS, f"{width}x{height}")
    if width * height * frames > ANIMATION_MAX_PIXELS:
        raise _too_large(ANIMATION_MAX_PIXELS, f"{frames} frames of {width}x{height}")


def _decode_all_frames(image: Image.Image) -> None:
    frames = getattr(image, "n_frames", 1)
    _check_pixels(image.width, image.height, frames)
    for frame in ImageSequence.Iterator(image):
        frame.load()


def _display_size(image: Image.Image) -> tuple[int, int]:
    """Width and height as displayed: EXIF orientations 5-8 swap them."""
    image.seek(0)
    orientation = image.getexif().get(0x0112, 1)
    if orientation in (5, 6, 7, 8):
        return image.height, image.width
    return image.width, image.height


def _probe_video(handle: IO[bytes]) -> Probed:
    info = MediaInfo.parse(handle)
    general = next((t for t in info.tracks if t.track_type == "General"), None)
    video = next((t for t in info.tracks if t.track_type == "Video"), None)
    if video is None or not video.width or not video.height:
        raise _undecodable("The video has no readable video track (missing or invalid header or moov box).")
    duration_ms = video.duration or (general.duration if general is not None else None)
    if not duration_ms:
        raise _undecodable("The video's duration cannot be read.")
    width, height = int(video.width), int(video.height)
    if str(video.rotation or "0").split(".")[0] in ("90", "270", "-90"):
        width, height = height, width
    return Probed(width, height, round(float(duration_ms) / 1000.0, 3))


def _too_large(limit: int, seen: str = "") -> Unprocessable:
    suffix = f"; got {seen}" if seen else ""
    return Unprocessable(f"The image exceeds the limit of {limit} pixels{suffix}.", code="image_too_large")


def _undecodable(detail: str) -> Unprocessable:
    return Unprocessable(detail, code="media_undecodable")

