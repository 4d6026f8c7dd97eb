"""A small ``requests`` client for the Instagram Graph API on either login host.

One :class:`requests.Session` per worker thread (connection reuse), a
timeout on every call, the access token sent as the ``access_token``
parameter (reference §2.1: query string for reads, form body for writes; both
hosts accept it), every call paced through the core's :class:`Pacer`, and
every failure raised as a :class:`plugins.errors.ChannelError`.
"""

from __future__ import annotations

import email.utils
import json
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from urllib3.exceptions import NewConnectionError

from plugins.errors import ChannelError, OutcomeUnknown, RateLimited, TransientChannelError
from plugins.types import Credentials, Destination, Pacer

from .errors import parse_envelope, to_channel_error
from .spec import PROVIDER_META, setting

CONNECT_TIMEOUT_S = 5.0
CALLS_PER_HOUR = 200  #: Instagram Platform per-account call budget (paced, not enforced by Instagram here)
USER_AGENT = "markaestro-channel-instagram/0.1.0"
_local = threading.local()


def session() -> requests.Session:
    """This thread's shared session (created on first use)."""
    current = getattr(_local, "session", None)
    if current is None:
        current = requests.Session()
        current.headers["User-Agent"] = USER_AGENT
        _local.session = current
    return current


@dataclass(frozen=True)
class Reply:
    """A decoded 2xx answer and the platform's clock (``Date`` header), unix seconds."""

    body: dict[str, Any]
    server_time: float


@dataclass(frozen=True)
class Graph:
    """Calls against ``{base}/{version}/...`` with one token, paced per account."""

    base_url: str
    version: str
    access_token: str
    timeout_s: float = 30.0
    pacer: Pacer | None = None
    pace_key: str = ""

    def get(self, path: str, params: Mapping[str, object] | None = None, *, asset: str | None = None) -> Reply:
        """A read; failures are transient or mapped from the envelope, never ``OutcomeUnknown``."""
        return self._call("GET", path, dict(params or {}), creating=False, asset=asset)

    def post(self, path: str, data: Mapping[str, object], *, creating: bool, asset: str | None = None) -> Reply:
        """A write; ``creating`` writes raise ``OutcomeUnknown`` when the answer is lost after sending."""
        return self._call("POST", path, dict(data), creating=creating, asset=asset)

    def url(self, path: str) -> str:
        version = f"/{self.version}" if self.version else ""
        return f"{self.base_url.rstrip('/')}{version}/{path.lstrip('/')}"

    def _call(self, method: str, path: str, params: dict[str, object], *, creating: bool,
              asset: str | None) -> Reply:
        self._pace()
        params["access_token"] = self.access_token
        where = "params" if method == "GET" else "data"
        response = send(method, self.url(path), creating=creating, timeout_s=self.timeout_s,
                        **{where: _encode(params)})
        return decode(response, asset=asset)

    def _pace(self) -> None:
        if self.pacer is None:
            return
        wait = self.pacer.reserve(f"instagram:calls:{self.pace_key}", limit=CALLS_PER_HOUR, period_s=3600.0)
        if wait > 0:
            raise RateLimited(f"holding Instagram calls for this account for {wait:.0f} s "
                              f"({CALLS_PER_HOUR} calls per hour)", retry_after_s=wait)


def _encode(params: Mapping[str, object]) -> dict[str, str]:
    """Graph form/query encoding: booleans as ``true``/``false``, objects as JSON."""
    encoded: dict[str, str] = {}
    for key, value in params.items():
        if isinstance(value, bool):
            encoded[key] = "true" if value else "false"
        elif isinstance(value, dict | list):
            encoded[key] = json.dumps(value)
        else:
            encoded[key] = str(value)
    return encoded


def send(method: str, url: str, *, creating: bool, timeout_s: float, **kwargs: Any) -> requests.Response:
    """One HTTP call with timeouts; network failures become channel errors."""
    try:
        return session().request(method, url, timeout=(CONNECT_TIMEOUT_S, timeout_s), **kwargs)
    except requests.RequestException as exc:
        raise _network_error(exc, creating=creating, url=url) from exc


def _network_error(exc: requests.RequestException, *, creating: bool, url: str) -> ChannelError:
    host = urlsplit(url).netloc
    if creating and _maybe_sent(exc):
        return OutcomeUnknown(f"no answer from Instagram ({host}) after the request was sent ({type(exc).__name__}); "
                              "it may have gone through", code="outcome_unknown")
    return TransientChannelError(f"could not reach Instagram ({host}): {type(exc).__name__}", retry_after_s=30.0)


def _maybe_sent(exc: requests.RequestException) -> bool:
    """False only when the request certainly never left (connect failed or timed out)."""
    if isinstance(exc, requests.ConnectTimeout):
        return False
    if isinstance(exc, requests.ConnectionError):
        reason = getattr(exc.args[0], "reason", None) if exc.args else None
        return not isinstance(reason, NewConnectionError)
    return isinstance(exc, requests.Timeout | requests.ConnectionError)


def decode(response: requests.Response, *, asset: str | None = None) -> Reply:
    """The JSON body of a 2xx answer, or the mapped error of any other."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code >= 400 or not isinstance(body, dict):
        err = parse_envelope(response.status_code, body)
        raise to_channel_error(err, asset=asset, retry_after_s=retry_after(response.headers))
    return Reply(body=body, server_time=server_time(response.headers))


def retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds from ``Retry-After`` or ``X-Business-Use-Case-Usage`` (minutes), if given."""
    if headers.get("Retry-After", "").strip().isdigit():
        return float(headers["Retry-After"])
    try:
        usage = json.loads(headers.get("X-Business-Use-Case-Usage", "") or "{}")
        minutes = [e.get("estimated_time_to_regain_access", 0) for v in usage.values() for e in v]
    except (ValueError, AttributeError, TypeError):
        return None
    return max(minutes) * 60.0 if minutes and max(minutes) > 0 else None


def server_time(headers: Mapping[str, str]) -> float:
    """The platform's clock from the ``Date`` header; local time when absent."""
    try:
        return email.utils.parsedate_to_datetime(headers["Date"]).timestamp()
    except (KeyError, TypeError, ValueError):
        return time.time()


def graph_for(destination: Destination, credentials: Credentials, settings: Mapping[str, str],
              pacer: Pacer | None = None) -> Graph:
    """The client for a destination: host and version chosen by its login provider."""
    meta = destination.provider == PROVIDER_META
    return Graph(
        base_url=setting(settings, "meta_graph_url" if meta else "instagram_graph_url"),
        version=setting(settings, "meta_graph_version" if meta else "instagram_graph_version"),
        access_token=credentials.access_token,
        timeout_s=float(setting(settings, "timeout_s") or 30),
        pacer=pacer,
        pace_key=f"{destination.provider}:{destination.account_id}",
    )
