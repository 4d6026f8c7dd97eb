"""``Idempotency-Key`` handling for every POST (spec §1.3).

A layer of request hooks around every view, so routes do not repeat it:

* ``before_request`` (after authentication and the rate limiter, so a 401 or
  429 never consumes a key): validate the header (400
  ``idempotency_key_invalid``), then **claim** the key by INSERTing its
  ``idempotency_records`` row, committed before the view runs. The unique
  constraint ``(workspace_id, key)`` decides races between concurrent requests.
  When the row already exists: in flight → 409 ``idempotency_key_in_use`` with
  ``Retry-After``; in flight but older than the lock timeout (its process died)
  → taken over; completed with another method, path or body → 422
  ``idempotency_key_reused``; completed with the same → the stored status and
  body, byte for byte, plus ``Idempotent-Replayed: true``.
* ``after_request``: a response below 500 is stored on the row and the lock
  released; a 5xx (including exceptions turned into 500/503) deletes the row so
  the client may retry with the same key.
* ``teardown_request``: a claim that was never finished is deleted.

Body fingerprints: JSON bodies are canonicalised (parsed, keys sorted), so
whitespace and key order do not matter. Any other body — notably the
``multipart/form-data`` upload of ``POST /media`` — is hashed while the view
reads it: :class:`HashingStream` replaces ``request.stream`` and feeds every
byte it hands out to a :class:`MultipartFingerprint` (part names, file names
and content; not the boundary, which a retry changes) or a plain SHA-256. The
upload is therefore never buffered for this layer. The seam for the media
view is simply: read the upload through ``request.stream`` or
``request.files`` (never ``environ['wsgi.input']``). A retry of a completed
key has its body drained (hashed, bounded memory) before the decision.

Records are kept at least :data:`RETENTION` (24 h); :func:`purge_expired`
deletes older ones and is meant for the periodic sweeper.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import Flask, Response, current_app, g, request
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from werkzeug.sansio.multipart import Data, Epilogue, Field, File, MultipartDecoder, NeedData

from .db_session import get_session
from .errors import BadRequest, Conflict, PayloadTooLarge, Unprocessable
from .models import IdempotencyRecord
from .timeutil import utcnow

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
RETENTION = timedelta(hours=24)
DEFAULT_LOCK_TIMEOUT_SECONDS = 600  # an in-flight claim older than this is presumed dead
LOCK_TIMEOUT_SETTING = "MARKAESTRO_IDEMPOTENCY_LOCK_TIMEOUT_SECONDS"
IN_USE_RETRY_AFTER = "1"
STORED_HEADERS = ("Content-Type", "Location")
MAX_KEY_LENGTH = 255
_CHUNK = 64 * 1024
log = logging.getLogger(__name__)


# --- the key ---------------------------------------------------------------------------------


def parse_key(values: list[str]) -> str:
    """The key of the ``Idempotency-Key`` field values; raise 400 ``idempotency_key_invalid``.

    Accepts a bare key (as Stripe clients send it) or an RFC 8941 sf-string
    (``"abc"``, the IETF draft's form); both spell the same key. The key must be
    1–255 printable ASCII characters, sent in exactly one header field. WSGI
    joins repeated fields with commas, so a bare key containing a comma is
    refused as ambiguous; quoted, a comma is fine.
    """
    if len(values) != 1:
        raise _invalid("send exactly one Idempotency-Key header field")
    raw = values[0].strip(" \t")
    if not raw.startswith('"') and "," in raw:
        # Repeated fields reach WSGI joined by commas: a bare key with a comma is ambiguous.
        raise _invalid("send exactly one Idempotency-Key header field (quote a key that contains a comma)")
    key = _unquote_sf_string(raw) if raw.startswith('"') else raw
    if not key or len(key) > MAX_KEY_LENGTH:
        raise _invalid(f"the key must be 1–{MAX_KEY_LENGTH} characters long")
    if not all(" " <= char <= "~" for char in key):
        raise _invalid("the key must consist of printable ASCII characters")
    return key


def _unquote_sf_string(raw: str) -> str:
    """The value of an RFC 8941 sf-string (``"..."`` with ``\\"`` and ``\\\\`` escapes)."""
    if len(raw) < 2 or not raw.endswith('"'):
        raise _invalid("a quoted key must end with a double quote")
    chars: list[str] = []
    escaped = False
    for char in raw[1:-1]:
        if escaped:
            if char not in '"\\':
                raise _invalid("only \\\" and \\\\ may be escaped in a quoted key")
            chars.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == '"':
            raise _invalid("a quoted key must escape inner double quotes")
        else:
            chars.append(char)
    if escaped:
        raise _invalid("a quoted key must not end with a backslash")
    return "".join(chars)


def _invalid(reason: str) -> BadRequest:
    return BadRequest(f"Malformed Idempotency-Key header: {reason}.", code="idempotency_key_invalid")


# --- body fingerprints ---------------------------------------------------------------------------


def json_fingerprint(data: bytes) -> str:
    """SHA-256 of the canonical form of a JSON body (raw bytes when it is not JSON)."""
    try:
        canonical = json.dumps(json.loads(data), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    except ValueError:
        return _tagged("raw", hashlib.sha256(data).hexdigest())
    return _tagged("json", hashlib.sha256(canonical.encode()).hexdigest())


def _tagged(kind: str, hexdigest: str) -> str:
    """A 64-character fingerprint that also records how the body was read."""
    return hashlib.sha256(f"{kind}:{hexdigest}".encode()).hexdigest()


class MultipartFingerprint:
    """Incremental fingerprint of a multipart body from its parts, independent of the boundary.

    Each part contributes its field name, file name (if any) and a SHA-256 of
    its content; parts are sorted, so their order does not matter either. A body
    that is not valid multipart falls back to a hash of its raw bytes.
    """

    def __init__(self, boundary: bytes) -> None:
        self._decoder = MultipartDecoder(boundary)
        self._raw = hashlib.sha256()
        self._parts: list[tuple[str, str | None, str]] = []
        self._current: tuple[str, str | None, Any] | None = None
        self._broken = False
        self._finished = False

    def update(self, data: bytes) -> None:
        self._raw.update(data)
        self._feed(data)

    def hexdigest(self) -> str:
        self._feed(None)
        if self._broken or not self._finished:
            return _tagged("raw", self._raw.hexdigest())
        self._close_part()
        return _tagged("multipart", hashlib.sha256(json.dumps(sorted(self._parts)).encode()).hexdigest())

    def _feed(self, data: bytes | None) -> None:
        if self._broken:
            return
        try:
            self._decoder.receive_data(data)
            self._drain_events()
        except ValueError:
            self._broken = True

    def _drain_events(self) -> None:
        event = self._decoder.next_event()
        while not isinstance(event, NeedData):
            if isinstance(event, (Field, File)):
                self._close_part()
                self._current = (event.name, getattr(event, "filename", None), hashlib.sha256())
            elif isinstance(event, Data) and self._current is not None:
                self._current[2].update(event.data)
            elif isinstance(event, Epilogue):
                self._finished = True
                break
            event = self._decoder.next_event()

    def _close_part(self) -> None:
        if self._current is not None:
            name, filename, digest = self._current
            self._parts.append((name, filename, digest.hexdigest()))
            self._current = None


class HashingStream(io.RawIOBase):
    """A read-only stream that hashes every byte it hands out (see the module docstring)."""

    def __init__(self, inner: Any, hasher: Any) -> None:
        super().__init__()
        self._inner = inner
        self.hasher = hasher
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._inner.read(len(buffer))
        if not data:
            return 0
        self.hasher.update(data)
        self.bytes_read += len(data)
        buffer[: len(data)] = data
        return len(data)

    def exhausted(self) -> bool:
        """Whether nothing is left to read (reads, and hashes, at most one chunk to find out)."""
        return not self.read(_CHUNK)

    def drain(self, limit: int | None = None) -> None:
        """Read (and hash) what the view left unread; raise 413 beyond ``limit`` bytes."""
        while self.read(_CHUNK):
            if limit is not None and self.bytes_read > limit:
                raise PayloadTooLarge(f"The request body is larger than the maximum of {limit} bytes.")


def _streamed_hasher() -> Any:
    boundary = request.mimetype_params.get("boundary")
    if request.mimetype == "multipart/form-data" and boundary:
        return MultipartFingerprint(boundary.encode("latin-1"))
    return _RawFingerprint()


class _RawFingerprint:
    def __init__(self) -> None:
        self._digest = hashlib.sha256()

    def update(self, data: bytes) -> None:
        self._digest.update(data)

    def hexdigest(self) -> str:
        return _tagged("raw", self._digest.hexdigest())


# --- the claim -----------------------------------------------------------------------------------


@dataclass
class Claim:
    """This request's hold on a key: the row it inserted, and its fingerprint source."""

    record_id: int
    fingerprint: str | None
    stream: HashingStream | None


def _fingerprint_source() -> tuple[str | None, HashingStream | None]:
    """An up-front fingerprint (JSON), or a hashing stream installed as ``request.stream``."""
    if request.is_json:
        return json_fingerprint(request.get_data(cache=True)), None
    stream = HashingStream(request.stream, _streamed_hasher())
    request.__dict__["stream"] = stream  # werkzeug's cached property; the view and form parser read this
    return None, stream


def _insert_claim(session: Session, workspace_id: str, key: str, fingerprint: str | None) -> int | None:
    """INSERT the in-flight row and commit; ``None`` when the key already has one."""
    record = IdempotencyRecord(workspace_id=workspace_id, key=key, method=request.method,
                               path=request.path, fingerprint=fingerprint, locked_at=utcnow())
    session.add(record)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        return None
    return record.id


def _lock_timeout() -> timedelta:
    seconds = current_app.config.get(LOCK_TIMEOUT_SETTING, DEFAULT_LOCK_TIMEOUT_SECONDS)
    return timedelta(seconds=float(seconds))


def _existing(session: Session, workspace_id: str, key: str) -> IdempotencyRecord | None:
    record = session.scalars(select(IdempotencyRecord).where(
        IdempotencyRecord.workspace_id == workspace_id, IdempotencyRecord.key == key)).one_or_none()
    session.commit()  # end the read transaction (SQLite holds its write lock otherwise)
    return record


def _take_over_if_stale(session: Session, record: IdempotencyRecord) -> bool:
    """Delete an abandoned in-flight row (compare-and-delete); whether this request did it."""
    cutoff = utcnow() - _lock_timeout()
    result = session.execute(delete(IdempotencyRecord).where(
        IdempotencyRecord.id == record.id, IdempotencyRecord.response_status.is_(None),
        IdempotencyRecord.locked_at < cutoff))
    session.commit()
    return bool(getattr(result, "rowcount", 0))


def claim_or_answer(workspace_id: str, key: str) -> Response | None:
    """Claim ``key`` for this request (``None``) or answer instead of the view."""
    session = get_session()
    fingerprint, stream = _fingerprint_source()
    for _attempt in range(3):
        record_id = _insert_claim(session, workspace_id, key, fingerprint)
        if record_id is not None:
            g.idempotency_claim = Claim(record_id, fingerprint, stream)
            return None
        record = _existing(session, workspace_id, key)
        if record is None:
            continue  # finished and deleted (a 5xx) in between: claim again
        if record.response_status is None:
            if _take_over_if_stale(session, record):
                continue
            raise Conflict("A request with this Idempotency-Key is still being processed; retry shortly.",
                           code="idempotency_key_in_use", headers={"Retry-After": IN_USE_RETRY_AFTER})
        return _replay_or_refuse(record, fingerprint, stream)
    raise Conflict("This Idempotency-Key is contended; retry shortly.", code="idempotency_key_in_use",
                   headers={"Retry-After": IN_USE_RETRY_AFTER})


def _replay_or_refuse(record: IdempotencyRecord, fingerprint: str | None, stream: HashingStream | None) -> Response:
    if stream is not None:
        stream.drain(current_app.config.get("MARKAESTRO_MAX_UPLOAD_BYTES"))
        fingerprint = stream.hasher.hexdigest()
    if (record.method, record.path, record.fingerprint) != (request.method, request.path, fingerprint):
        raise Unprocessable("This Idempotency-Key was already used for a different request (another method, "
                            "path or body); use a new key for a new request.", code="idempotency_key_reused")
    return replay(record)


def replay(record: IdempotencyRecord) -> Response:
    """The stored response of ``record``, byte for byte, marked as a replay."""
    response = Response(record.response_body or b"", status=record.response_status)
    for name, value in (record.response_headers or {}).items():
        response.headers[name] = value
    response.headers[REPLAYED_HEADER] = "true"
    return response


def _stored_headers(response: Response) -> dict[str, Any]:
    return {name: response.headers[name] for name in STORED_HEADERS if name in response.headers}


# --- request hooks -------------------------------------------------------------------------------


def begin() -> Response | None:
    """Before-request hook: claim the key of an authenticated POST that carries one."""
    if request.method != "POST" or request.url_rule is None or request.routing_exception is not None:
        return None
    values = request.headers.getlist(HEADER)
    workspace_id = g.get("workspace_id")
    if not values or workspace_id is None:
        return None
    return claim_or_answer(str(workspace_id), parse_key(values))


def finish(response: Response) -> Response:
    """After-request hook: store a response below 500 on the claimed row; delete the row otherwise."""
    claim: Claim | None = g.get("idempotency_claim")
    if claim is None:
        return response
    session = get_session()
    session.rollback()  # the view's uncommitted leftovers are discarded at teardown anyway
    if response.status_code >= 500 or response.direct_passthrough or _body_left_unread(claim, response):
        _release(session, claim.record_id)
        g.pop("idempotency_claim")
        return response
    if claim.stream is not None:
        claim.stream.drain()
        claim.fingerprint = claim.stream.hasher.hexdigest()
    session.execute(update(IdempotencyRecord).where(IdempotencyRecord.id == claim.record_id).values(
        fingerprint=claim.fingerprint, locked_at=None, response_status=response.status_code,
        response_headers=_stored_headers(response), response_body=response.get_data()))
    session.commit()
    g.pop("idempotency_claim")
    return response


def _body_left_unread(claim: Claim, response: Response) -> bool:
    """An error that stopped reading the body (e.g. 413) cannot be fingerprinted: it is not stored."""
    return claim.stream is not None and response.status_code >= 400 and not claim.stream.exhausted()


def abandon(_exc: BaseException | None) -> None:
    """Teardown hook: delete a claim that no response finished (so the key can be retried)."""
    claim: Claim | None = g.pop("idempotency_claim", None)
    if claim is None:
        return
    try:
        session = get_session()
        session.rollback()
        _release(session, claim.record_id)
    except Exception:  # the database is gone: the claim turns stale and is taken over later
        log.warning("could not release idempotency claim %s", claim.record_id, exc_info=True)


def _release(session: Session, record_id: int) -> None:
    session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.id == record_id))
    session.commit()


def purge_expired(session: Session, *, now: datetime | None = None, retention: timedelta = RETENTION) -> int:
    """Delete records older than ``retention`` (default 24 h); the caller commits. Returns the count.

    Keys are kept at least 24 hours (the published policy); a key used again
    after it was purged starts a new request.
    """
    cutoff = (now or utcnow()) - retention
    result = session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.created_at < cutoff))
    return int(getattr(result, "rowcount", 0) or 0)


def init_app(app: Flask) -> None:
    """Install the idempotency layer (after authentication and the rate limiter)."""
    app.before_request(begin)
    app.after_request(finish)
    app.teardown_request(abandon)
