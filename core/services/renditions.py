"""JPEG renditions for channels that accept only some image types.

A channel's ``MediaRules.deliver_as`` lists the image types its platform
takes; an image of another type is delivered as a JPEG rendition made here
once and cached in ``media_renditions``. The rendition shows what a viewer
of the original sees: EXIF orientation applied, colours kept (an RGB ICC
profile is carried over; other colour spaces are converted to sRGB through
their profile), transparency flattened on white, metadata dropped. The
original is never touched.
"""

from __future__ import annotations

import hashlib
import io
from functools import lru_cache
from typing import IO

import sqlalchemy as sa
from PIL import Image, ImageCms, ImageOps
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from plugins.types import ChannelSpec

from ..models import MediaAsset, MediaRendition
from ..storage import Storage
from .probe import EXTENSIONS

RENDITION_MIME = "image/jpeg"
JPEG_QUALITY = 90
_PILLOW_FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP", "image/gif": "GIF"}
_CMS_MODES = {"CMYK": "CMYK", "GRAY": "L"}


def needs_rendition(asset: MediaAsset, spec: ChannelSpec) -> bool:
    """Whether ``spec``'s channel must get ``asset`` as a JPEG rendition."""
    rules = spec.rules.image
    return (asset.kind == "image" and rules is not None and bool(rules.deliver_as)
            and asset.mime_type not in rules.deliver_as)


def rendition_key(asset: MediaAsset) -> str:
    """The rendition's storage key: beside the original, derived from it (so unique per asset)."""
    directory = asset.storage_key.rsplit("/", 1)[0]
    return f"{directory}/{asset.id}-rendition.{EXTENSIONS[RENDITION_MIME]}"


def jpeg_rendition(session: Session, storage: Storage, asset: MediaAsset) -> MediaRendition:
    """The asset's JPEG rendition, made and stored on first use.

    Race-safe: concurrent makers write identical bytes under the same key and
    the key's uniqueness keeps one row. The row is flushed inside a savepoint
    of the caller's transaction; the caller commits.
    """
    key = rendition_key(asset)
    existing = _by_key(session, key)
    if existing is not None:
        return existing
    with storage.open(asset.storage_key) as source:
        encoded, (width, height) = render_jpeg(source, _PILLOW_FORMATS[asset.mime_type])
    storage.save(key, [encoded])
    row = MediaRendition(asset_id=asset.id, mime_type=RENDITION_MIME, size_bytes=len(encoded), width=width,
                         height=height, sha256=hashlib.sha256(encoded).hexdigest(), storage_key=key)
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        winner = _by_key(session, key)
        if winner is None:
            raise
        return winner
    return row


def render_jpeg(source: IO[bytes], pillow_format: str) -> tuple[bytes, tuple[int, int]]:
    """The JPEG bytes and size of the first frame of ``source``, as displayed."""
    with Image.open(source, formats=[pillow_format]) as image:
        icc = image.info.get("icc_profile")
        oriented = ImageOps.exif_transpose(image)
        alpha = oriented.convert("RGBA").getchannel("A") if oriented.has_transparency_data else None
        rgb, profile = _to_rgb(oriented, icc)
    if alpha is not None:
        flattened = Image.new("RGB", rgb.size, (255, 255, 255))
        flattened.paste(rgb, mask=alpha)
        rgb = flattened
    out = io.BytesIO()
    rgb.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True, icc_profile=profile)
    return out.getvalue(), rgb.size


def _to_rgb(image: Image.Image, icc: bytes | None) -> tuple[Image.Image, bytes | None]:
    """RGB pixels and the ICC profile that describes them (``None``: untagged, i.e. sRGB)."""
    profile = _profile(icc)
    if profile is None:
        return image.convert("RGB"), None
    space = profile.profile.xcolor_space.strip()
    if space == "RGB":
        return image.convert("RGB"), icc
    mode = _CMS_MODES.get(space)
    if mode is None:
        return image.convert("RGB"), None
    converted = ImageCms.profileToProfile(image.convert(mode), profile, _srgb(), outputMode="RGB")
    assert converted is not None
    return converted, _srgb().tobytes()


def _profile(icc: bytes | None) -> ImageCms.ImageCmsProfile | None:
    if not icc:
        return None
    try:
        return ImageCms.ImageCmsProfile(io.BytesIO(icc))
    except (OSError, ImageCms.PyCMSError):
        return None


@lru_cache(maxsize=1)
def _srgb() -> ImageCms.ImageCmsProfile:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


def _by_key(session: Session, key: str) -> MediaRendition | None:
    return session.scalar(sa.select(MediaRendition).where(MediaRendition.storage_key == key))
