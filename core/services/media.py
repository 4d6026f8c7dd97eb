"""Media assets: streamed upload, lookup, and what the hosted URLs serve.

An upload is read part by part from the request body, typed from its first
bytes (nothing is stored for an unsupported type), streamed to storage under
a generated key while its size is capped and its SHA-256 computed, then
decoded and measured. Any failure removes the stored bytes; a row exists
only for a file that passed every check.
"""

from __future__ import annotations

import hashlib
import itertools
import re
import secrets
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import IO

import sqlalchemy as sa
from sqlalchemy.orm import Session

from plugins.types import ChannelSpec, MediaItem

from ..errors import PayloadTooLarge
from ..ids import new_id
from ..models import MediaAsset, MediaRendition
from ..storage import Storage
from . import convert, probe, renditions
from .errors import not_found
from .upload_stream import boundary_of, open_file_part

#: Room for multipart headers and small fields beside the file itself.
BODY_OVERHEAD_BYTES = 1024 * 1024
FILENAME_MAX_CHARS = 200
_SEPARATORS = re.compile(r"[/\\]")


@dataclass(frozen=True)
class UploadRequest:
    """The parts of an HTTP request an upload needs (no Flask objects)."""

    stream: IO[bytes]
    content_type: str | None
    content_length: int | None


@dataclass
class _Digest:
    size: int = 0
    sha256: hashlib._Hash = field(default_factory=hashlib.sha256)


def upload(session: Session, storage: Storage, workspace_id: str, request: UploadRequest,
           max_bytes: int) -> MediaAsset:
    """Store the request's ``file`` part as a new asset of ``workspace_id`` and commit it.

    :raises PayloadTooLarge: the file exceeds ``max_bytes`` (or the body its overhead).
    :raises UnsupportedMediaType: the bytes are not a supported image or video.
    :raises Unprocessable: corrupt, truncated or oversized-in-pixels media.
    :raises ValidationFailed: no ``file`` part.
    """
    max_body = max_bytes + BODY_OVERHEAD_BYTES
    if request.content_length is not None and request.content_length > max_body:
        raise _too_large(max_bytes)
    part = open_file_part(request.stream, boundary_of(request.content_type), max_body)
    digest = _Digest()
    head, chunks = _peek(_metered(part.chunks, max_bytes, digest), probe.HEAD_BYTES)
    detected = probe.detect(head)
    asset_id = new_id("ast")
    key = new_storage_key(asset_id, detected.extension)
    storage.save(key, chunks)
    try:
        measured = probe.probe(partial(storage.open, key), detected)
        asset = MediaAsset(
            id=asset_id, workspace_id=workspace_id, kind=detected.kind, mime_type=detected.mime_type,
            size_bytes=digest.size, width=measured.width, height=measured.height,
            duration_seconds=measured.duration_seconds, sha256=digest.sha256.hexdigest(),
            filename=clean_filename(part.filename), storage_key=key,
        )
        session.add(asset)
        session.commit()
    except BaseException:
        session.rollback()
        storage.delete(key)
        raise
    return asset


def get_asset(session: Session, workspace_id: str, asset_id: str) -> MediaAsset:
    """The workspace's asset; another workspace's id is the same 404 as a missing one."""
    asset = session.scalar(sa.select(MediaAsset).where(MediaAsset.id == asset_id,
                                                       MediaAsset.workspace_id == workspace_id))
    if asset is None:
        raise not_found("media asset", asset_id)
    return asset


def new_storage_key(asset_id: str, extension: str) -> str:
    """``{asset id}/{128 random bits}/{asset id}.{ext}``: generated, unguessable."""
    return f"{asset_id}/{secrets.token_hex(16)}/{asset_id}.{extension}"


def clean_filename(raw: str) -> str:
    """The client's file name as harmless metadata.

    Keeps the last path component, drops control and format characters
    (NUL, bidi overrides), leading dots and surrounding blanks, and caps the
    length while keeping a short extension.
    """
    name = _SEPARATORS.split(unicodedata.normalize("NFC", raw))[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C").strip().lstrip(".").strip()
    if len(name) <= FILENAME_MAX_CHARS:
        return name
    stem, dot, ext = name.rpartition(".")
    if dot and 0 < len(ext) <= 10:
        return stem[: FILENAME_MAX_CHARS - len(ext) - 1] + "." + ext
    return name[:FILENAME_MAX_CHARS]


def deliverable_media(session: Session, storage: Storage, public_url: str, spec: ChannelSpec,
                      assets: Iterable[MediaAsset]) -> tuple[MediaItem, ...]:
    """``assets`` in order, as ``spec``'s channel should receive them.

    An image whose type the channel's ``MediaRules.deliver_as`` excludes is
    replaced by its JPEG rendition (made once; URL, type, size, dimensions
    and bytes are the rendition's). New rendition rows are flushed in the
    caller's transaction; the caller commits.
    """
    return tuple(_deliverable(session, storage, public_url, spec, asset) for asset in assets)


def _deliverable(session: Session, storage: Storage, public_url: str, spec: ChannelSpec,
                 asset: MediaAsset) -> MediaItem:
    if not renditions.needs_rendition(asset, spec):
        return convert.media_item(asset, public_url, storage)
    rendition = renditions.jpeg_rendition(session, storage, asset)
    return convert.rendition_item(asset, rendition, public_url, storage)


@dataclass(frozen=True)
class HostedObject:
    """What a hosted URL serves: stored bytes with their detected type."""

    storage_key: str
    mime_type: str
    sha256: str
    download_name: str


def hosted_object(session: Session, storage_key: str) -> HostedObject | None:
    """The asset or rendition stored under ``storage_key``, or ``None``."""
    asset = session.scalar(sa.select(MediaAsset).where(MediaAsset.storage_key == storage_key))
    if asset is not None:
        return HostedObject(asset.storage_key, asset.mime_type, asset.sha256,
                            f"{asset.id}.{probe.EXTENSIONS[asset.mime_type]}")
    rendition = session.scalar(sa.select(MediaRendition).where(MediaRendition.storage_key == storage_key))
    if rendition is not None:
        return HostedObject(rendition.storage_key, rendition.mime_type, rendition.sha256,
                            f"{rendition.asset_id}.{probe.EXTENSIONS[rendition.mime_type]}")
    return None


def _metered(chunks: Iterator[bytes], max_bytes: int, digest: _Digest) -> Iterator[bytes]:
    for chunk in chunks:
        digest.size += len(chunk)
        if digest.size > max_bytes:
            raise _too_large(max_bytes)
        digest.sha256.update(chunk)
        yield chunk


def _peek(chunks: Iterator[bytes], count: int) -> tuple[bytes, Iterator[bytes]]:
    """The first ``count`` bytes (fewer if the stream is shorter) and the whole stream."""
    head = bytearray()
    for chunk in chunks:
        head += chunk
        if len(head) >= count:
            break
    return bytes(head[:count]), itertools.chain([bytes(head)], chunks)


def _too_large(max_bytes: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"The file exceeds the maximum upload size of {max_bytes} bytes.")
