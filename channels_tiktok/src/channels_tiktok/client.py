"""A ``requests`` client for TikTok's Open API v2 and its upload URLs.

One :class:`requests.Session` per client and one client per (thread, base
URL), so connections are reused across calls of a worker. Every call has a
timeout. API answers use the v2 envelope
``{"data": {...}, "error": {"code", "message", "log_id"}}``; any code but
``ok`` becomes a :class:`~plugins.errors.ChannelError` through
:mod:`channels_tiktok.errors`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import IO, Any

import requests

from plugins.errors import ChannelError, OutcomeUnknown, PermanentChannelError

from . import errors
from .settings import TikTokSettings

CONNECT_TIMEOUT_S = 5.0
JSON_CONTENT_TYPE = "application/json; charset=UTF-8"
USER_AGENT = "markaestro-channel-tiktok/0.1"


class ChunkReader:
    """A file-like view of ``length`` bytes of ``source`` from its current position.

    ``requests`` sends it with ``Content-Length: length`` and reads it in
    blocks, so a chunk is never held in memory whole.
    """

    def __init__(self, source: IO[bytes], length: int) -> None:
        self._source = source
        self._left = length
        self._length = length

    def __len__(self) -> int:
        return self._length

    def read(self, size: int = -1) -> bytes:
        if self._left <= 0:
            return b""
        wanted = self._left if size is None or size < 0 else min(size, self._left)
        block = self._source.read(min(wanted, 1024 * 1024))
        self._left -= len(block)
        return block


@dataclass(frozen=True)
class ChunkResult:
    """The answer to one chunk ``PUT``: 201 (all received), 206 (more expected) or 416."""

    status: int
    uploaded_bytes: int | None  #: from the response's ``Content-Range``, when given


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    try:
        return float(value) if value else None
    except ValueError:
        return None


def _uploaded_bytes(content_range: str | None) -> int | None:
    """``bytes 0-{last}/{total}`` → ``last + 1``, ``bytes */{total}`` → 0; ``None`` if absent or malformed."""
    if content_range and content_range.startswith("bytes */"):
        return 0
    if not content_range or "-" not in content_range:
        return None
    try:
        return int(content_range.split("-", 1)[1].split("/", 1)[0]) + 1
    except ValueError:
        return None


class TikTokClient:
    """Calls TikTok's API at ``api_url`` with a per-call bearer token."""

    def __init__(self, api_url: str, *, timeout_s: float = 30.0) -> None:
        self.api_url = api_url.rstrip("/")
        self.timeout = (CONNECT_TIMEOUT_S, timeout_s)
        self.session = requests.Session()
        self.session.headers["User-Agent"] = USER_AGENT

    def post_json(self, path: str, token: str, body: dict[str, Any] | None, *,
                  what: str, creating: bool = False) -> dict[str, Any]:
        """POST a JSON body to ``path`` and return the envelope's ``data``."""
        headers = {"Authorization": f"Bearer {token}", "Content-Type": JSON_CONTENT_TYPE}
        try:
            response = self.session.post(f"{self.api_url}{path}", json=body, headers=headers, timeout=self.timeout)
        except requests.RequestException as exc:
            raise errors.transport_error(exc, what, creating=creating) from exc
        return self._data(response, what, creating=creating)

    def get_json(self, path: str, token: str, params: dict[str, str], *, what: str) -> dict[str, Any]:
        """GET ``path`` and return the envelope's ``data``."""
        headers = {"Authorization": f"Bearer {token}"}
        try:
            response = self.session.get(f"{self.api_url}{path}", params=params, headers=headers,
                                        timeout=self.timeout)
        except requests.RequestException as exc:
            raise errors.transport_error(exc, what, creating=False) from exc
        return self._data(response, what, creating=False)

    def _data(self, response: requests.Response, what: str, *, creating: bool) -> dict[str, Any]:
        try:
            body = response.json()
            error = body.get("error") or {}
            code = str(error.get("code", ""))
        except (ValueError, AttributeError):
            raise self._unreadable(response, what, creating=creating) from None
        if code == "ok" and response.status_code < 400:
            data = body.get("data")
            return data if isinstance(data, dict) else {}
        if not code:
            raise self._unreadable(response, what, creating=creating)
        raise errors.api_error(code, str(error.get("message", "")), status=response.status_code,
                               log_id=str(error.get("log_id") or error.get("logid") or ""),
                               retry_after=_retry_after(response))

    @staticmethod
    def _unreadable(response: requests.Response, what: str, *, creating: bool) -> ChannelError:
        if creating and response.status_code < 400:
            return OutcomeUnknown(f"TikTok answered {what} with an unreadable body (HTTP {response.status_code}); "
                                  "it may have been created, so it is not repeated")
        return errors.http_error(response.status_code, what, _retry_after(response))

    def put_chunk(self, upload_url: str, source: IO[bytes], first: int, last: int, total: int,
                  mime_type: str) -> ChunkResult:
        """PUT bytes ``first..last`` (inclusive) of ``total`` from ``source`` to ``upload_url``.

        ``source`` must be positioned at ``first``. The URL is used exactly as
        TikTok returned it. Raises on anything but 201, 206 and 416.
        """
        length = last - first + 1
        headers = {"Content-Type": mime_type, "Content-Length": str(length),
                   "Content-Range": f"bytes {first}-{last}/{total}"}
        what = f"the upload of bytes {first}-{last}/{total}"
        try:
            response = self.session.put(upload_url, data=ChunkReader(source, length), headers=headers,
                                        timeout=(CONNECT_TIMEOUT_S, self.timeout[1] * 4))
        except requests.RequestException as exc:
            raise errors.transport_error(exc, what, creating=False) from exc
        if response.status_code in (201, 206, 416):
            return ChunkResult(response.status_code, _uploaded_bytes(response.headers.get("Content-Range")))
        raise _chunk_error(response, what)

    def oauth_token(self, form: dict[str, str], *, what: str) -> dict[str, Any]:
        """POST ``form`` to ``/v2/oauth/token/``; return the token JSON or raise ``OAuthError``."""
        headers = {"Content-Type": "application/x-www-form-urlencoded", "Cache-Control": "no-cache"}
        try:
            response = self.session.post(f"{self.api_url}/v2/oauth/token/", data=form, headers=headers,
                                         timeout=self.timeout)
        except requests.RequestException as exc:
            raise errors.transport_error(exc, what, creating=False) from exc
        try:
            body = response.json()
        except ValueError:
            raise errors.http_error(response.status_code, what, _retry_after(response)) from None
        if response.status_code >= 400 or ("error" in body and body.get("error") not in ("", "ok", None)):
            raise OAuthError(str(body.get("error")), str(body.get("error_description", "")), response.status_code)
        return body if isinstance(body, dict) else {}


class OAuthError(Exception):
    """TikTok's OAuth error shape ``{"error", "error_description", "log_id"}``."""

    def __init__(self, error: str, description: str, status: int) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.status = status


class UploadUrlGone(PermanentChannelError):
    """The upload URL expired (TikTok keeps it one hour) or its task is gone: only a new upload can go on."""


def _chunk_error(response: requests.Response, what: str) -> ChannelError:
    status = response.status_code
    if status in (403, 404):
        meaning = ("the upload URL expired (TikTok keeps it for one hour)" if status == 403
                   else "TikTok has no upload task for this URL")
        return UploadUrlGone(f"TikTok answered HTTP {status} to {what}: {meaning}", code="upload_rejected",
                             platform_code=f"http_{status}")
    if status == 400:
        return PermanentChannelError(f"TikTok answered HTTP 400 to {what}: malformed upload headers or a length "
                                     "mismatch", code="upload_rejected", platform_code="http_400")
    return errors.http_error(status, what, _retry_after(response))


_local = threading.local()


def client_for(settings: TikTokSettings) -> TikTokClient:
    """The calling thread's client for ``settings.api_url`` (created on first use)."""
    clients: dict[tuple[str, float], TikTokClient] = getattr(_local, "clients", None) or {}
    _local.clients = clients
    key = (settings.api_url, settings.timeout_s)
    if key not in clients:
        clients[key] = TikTokClient(settings.api_url, timeout_s=settings.timeout_s)
    return clients[key]
