"""One webhook POST to an already checked, pinned address.

The socket connects to an address from :class:`~core.webhooks.ssrf.CheckedUrl`
(never re-resolving the name); TLS verifies the certificate and sends SNI for
the URL's host, and the ``Host`` header is the URL's. Redirects are never
followed (``http.client`` does not), the response body is read up to a cap,
and a watchdog shuts the socket at the deadline, so one attempt never takes
longer than ``timeout`` however slowly the receiver drips bytes.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import ssl
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass

from .ssrf import CheckedUrl

USER_AGENT = "Markaestro-Webhooks/1"


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes  # at most the cap
    retry_after: str | None = None  #: the receiver's ``Retry-After``, as sent


class TransportError(Exception):
    """No complete response; ``reason`` is a short, customer-safe description."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _tls_context() -> ssl.SSLContext:
    try:
        import certifi

        return ssl.create_default_context(cafile=certifi.where())
    except ImportError:  # pragma: no cover - certifi comes with requests
        return ssl.create_default_context()


class _Watchdog:
    """Shuts the current socket down when the deadline passes."""

    def __init__(self, seconds: float) -> None:
        self.fired = False
        self.sock: socket.socket | None = None
        self._timer = threading.Timer(max(seconds, 0.0), self._fire)
        self._timer.daemon = True

    def __enter__(self) -> _Watchdog:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()

    def _fire(self) -> None:
        self.fired = True
        if self.sock is not None:
            with contextlib.suppress(OSError):
                socket.socket.shutdown(self.sock, socket.SHUT_RDWR)


def post(
    target: CheckedUrl, body: bytes, headers: Mapping[str, str], *, timeout: float, max_response_bytes: int
) -> Response:
    """POST ``body`` to ``target``; :class:`TransportError` when no full response came in time."""
    deadline = time.monotonic() + timeout
    with _Watchdog(timeout) as watchdog:
        try:
            return _exchange(target, body, headers, deadline, watchdog, max_response_bytes)
        except TransportError:
            raise
        except (OSError, http.client.HTTPException) as error:
            if watchdog.fired or isinstance(error, TimeoutError):
                raise TransportError(f"timed out after {timeout:g} s") from None
            raise TransportError(_describe(error)) from None
        finally:
            if watchdog.sock is not None:
                watchdog.sock.close()


def _exchange(
    target: CheckedUrl, body: bytes, headers: Mapping[str, str], deadline: float, watchdog: _Watchdog, cap: int
) -> Response:
    sock = _connect(target, deadline)
    watchdog.sock = sock
    if target.scheme == "https":
        sock = _tls_context().wrap_socket(sock, server_hostname=target.host)
        watchdog.sock = sock
    connection = http.client.HTTPConnection(target.host, target.port)
    connection.sock = sock
    connection.putrequest("POST", target.target, skip_host=True, skip_accept_encoding=True)
    connection.putheader("Host", target.host_header)
    connection.putheader("User-Agent", USER_AGENT)
    for name, value in headers.items():
        connection.putheader(name, value)
    connection.putheader("Content-Length", str(len(body)))
    connection.endheaders(body)
    response = connection.getresponse()
    data = _read_capped(response, cap)
    if watchdog.fired:
        raise TimeoutError
    return Response(response.status, data, response.getheader("Retry-After"))


def _connect(target: CheckedUrl, deadline: float) -> socket.socket:
    """A TCP connection to the first reachable checked address."""
    last: OSError | None = None
    for address in target.addresses:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        try:
            sock = socket.create_connection((address, target.port), timeout=remaining)
        except OSError as error:
            last = error
            continue
        sock.settimeout(max(deadline - time.monotonic(), 0.001))
        return sock
    raise last or OSError("no address to connect to")


def _read_capped(response: http.client.HTTPResponse, cap: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while size < cap:
        chunk = response.read1(min(16384, cap - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _describe(error: BaseException) -> str:
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    if isinstance(error, ssl.SSLCertVerificationError):
        return "TLS certificate verification failed"
    if isinstance(error, ssl.SSLError):
        return "TLS handshake failed"
    if isinstance(error, http.client.HTTPException):
        return "invalid HTTP response"
    if isinstance(error, ConnectionError):
        return "connection reset"
    return "connection failed"
