"""Streaming ``multipart/form-data``: one file part's bytes, never buffered whole.

Built on werkzeug's sans-IO :class:`MultipartDecoder`, fed fixed-size reads
from the WSGI input, so memory stays flat whatever the upload size (with or
without ``Content-Length``; the server de-chunks chunked bodies). Limits:
total body bytes, number of parts, bytes of a non-file field.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.http import parse_options_header
from werkzeug.sansio.multipart import Data, Epilogue, Event, Field, File, MultipartDecoder, NeedData

from ..errors import BadRequest, PayloadTooLarge, validation_failed

CHUNK_BYTES = 64 * 1024
MAX_PARTS = 1000
MAX_FIELD_BYTES = 500_000
#: Bound on the decoder's buffer (part headers, partial boundaries).
MAX_BUFFER_BYTES = 1024 * 1024
FIELD = "file"
HOW = "send multipart/form-data with one file part named 'file'"


@dataclass
class FilePart:
    """The ``file`` part: its client-side name and an iterator over its bytes.

    Iterating ``chunks`` to the end also drains the rest of the body and
    enforces the limits there; it raises on any violation.
    """

    filename: str
    chunks: Iterator[bytes]


def boundary_of(content_type: str | None) -> bytes:
    """The multipart boundary of a ``Content-Type`` header, or a 422 naming ``file``."""
    mimetype, options = parse_options_header(content_type or "")
    boundary = options.get("boundary", "")
    if mimetype != "multipart/form-data" or not boundary:
        raise validation_failed({FIELD: [f"missing: {HOW}"]})
    try:
        return boundary.encode("ascii")
    except UnicodeEncodeError:
        raise BadRequest("The multipart boundary is not ASCII.", code="malformed_multipart") from None


def open_file_part(stream: IO[bytes], boundary: bytes, max_body_bytes: int) -> FilePart:
    """Read up to the ``file`` part's headers; its bytes stream from the result."""
    reader = _PartReader(_decoded(stream, boundary, max_body_bytes))
    for event in reader.events:
        if isinstance(event, File) and event.name == FIELD:
            return FilePart(event.filename or "", reader.file_chunks())
        reader.track(event)
    raise validation_failed({FIELD: [f"missing: {HOW}"]})


class _PartReader:
    """Walks decoder events, keeping non-file fields within their limit."""

    def __init__(self, events: Iterator[Event]) -> None:
        self.events = events
        self._file_seen = False
        self._field_bytes: int | None = None  # bytes of the current non-file field

    def track(self, event: Event) -> None:
        """Account for an event outside the ``file`` part's data."""
        if isinstance(event, Field | File):
            if event.name == FIELD:
                problem = "must appear once" if self._file_seen else "must be a file part with a filename"
                raise validation_failed({FIELD: [f"{problem}: {HOW}"]})
            self._field_bytes = 0 if isinstance(event, Field) else None
        elif isinstance(event, Data) and self._field_bytes is not None:
            self._field_bytes += len(event.data)
            if self._field_bytes > MAX_FIELD_BYTES:
                raise PayloadTooLarge(f"A form field exceeds {MAX_FIELD_BYTES} bytes.")

    def file_chunks(self) -> Iterator[bytes]:
        """The file part's bytes; then the rest of the body is drained and checked."""
        self._file_seen = True
        for event in self.events:
            if not isinstance(event, Data):
                raise BadRequest("The multipart body is malformed.", code="malformed_multipart")
            if event.data:
                yield event.data
            if not event.more_data:
                break
        self._field_bytes = None
        for event in self.events:
            self.track(event)


def _decoded(stream: IO[bytes], boundary: bytes, max_body_bytes: int) -> Iterator[Event]:
    """Decoder events of the body, reading :data:`CHUNK_BYTES` at a time."""
    decoder = MultipartDecoder(boundary, MAX_BUFFER_BYTES, max_parts=MAX_PARTS)
    read = 0
    try:
        while True:
            event = decoder.next_event()
            if isinstance(event, Epilogue):
                return
            if not isinstance(event, NeedData):
                yield event
                continue
            chunk = stream.read(CHUNK_BYTES)
            read += len(chunk)
            if read > max_body_bytes:
                raise PayloadTooLarge(f"The request body exceeds {max_body_bytes} bytes.")
            decoder.receive_data(chunk or None)
    except RequestEntityTooLarge:
        raise PayloadTooLarge(f"The form has more than {MAX_PARTS} parts or oversized part headers.") from None
    except ValueError:
        raise BadRequest("The multipart body is malformed.", code="malformed_multipart") from None
