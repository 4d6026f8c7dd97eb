"""SSRF guard for customer webhook URLs (spec §2.7; reliability.md §2.4).

:func:`check_url` parses a URL, canonicalises its host (IPv6 literals,
IPv4 in every ``inet_aton`` spelling: ``0x7f000001``, ``2130706433``,
``0177.0.0.1``, ``127.1``), resolves it **once** with an injectable
:data:`Resolver` and checks every address. The caller then connects only to
the returned addresses (see :mod:`core.webhooks.transport`), so there is no
window for DNS rebinding between the check and the connect.

With ``allow_private`` (``MARKAESTRO_WEBHOOK_ALLOW_PRIVATE``, development only)
``http`` and internal addresses are allowed; the URL must still be well formed.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Sequence[str]]
"""``resolver(host, port)`` → the IP address strings the host resolves to."""

MAX_URL_LENGTH = 2000
_SHARED = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
_NUMERIC_LABEL = re.compile(r"^(0[xX][0-9a-fA-F]*|[0-9]+)$")


class UnsafeWebhookUrl(ValueError):
    """The URL may not receive webhooks; ``reason`` is safe to show the customer."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class CheckedUrl:
    """A URL whose addresses passed the check; connect only to ``addresses``."""

    scheme: str
    host: str  # ASCII host name or canonical IP literal, no brackets
    port: int
    target: str  # path and query for the request line
    host_header: str
    addresses: tuple[str, ...]
    is_ip_literal: bool


def system_resolver(host: str, port: int) -> list[str]:
    """Every address ``getaddrinfo`` gives for ``host`` (A and AAAA), in its order."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    seen: dict[str, None] = {}
    for _family, _type, _proto, _name, sockaddr in infos:
        seen.setdefault(str(sockaddr[0]).split("%", 1)[0], None)
    return list(seen)


def check_url(url: str, resolver: Resolver, *, allow_private: bool = False) -> CheckedUrl:
    """Parse, resolve once and check ``url``; :class:`UnsafeWebhookUrl` says why not."""
    scheme, host, port, target, host_header = _parse(url, allow_private)
    literal = ip_literal(host)
    if literal is not None:
        addresses: tuple[str, ...] = (str(literal),)
    else:
        if not allow_private and _is_localhost_name(host):
            raise UnsafeWebhookUrl(f"host {host!r} is a localhost name")
        addresses = _resolve(resolver, host, port)
    if not allow_private:
        for address in addresses:
            problem = address_problem(ipaddress.ip_address(address))
            if problem:
                shown = "" if literal is not None else f" ({host!r} resolves to {address})"
                raise UnsafeWebhookUrl(f"the URL points at a {problem} address{shown}")
    name = str(literal) if literal is not None else host
    return CheckedUrl(scheme, name, port, target, host_header, addresses, literal is not None)


def _parse(url: str, allow_private: bool) -> tuple[str, str, int, str, str]:
    if not isinstance(url, str) or not url or len(url) > MAX_URL_LENGTH:
        raise UnsafeWebhookUrl(f"the URL must be 1 to {MAX_URL_LENGTH} characters")
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
        raise UnsafeWebhookUrl("the URL must not contain whitespace or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise UnsafeWebhookUrl("the URL is malformed (bad host or port)") from None
    allowed = ("https", "http") if allow_private else ("https",)
    if parts.scheme.lower() not in allowed:
        raise UnsafeWebhookUrl("the URL must use https")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise UnsafeWebhookUrl("the URL must not contain credentials (user:password@)")
    host = _ascii_host(parts.hostname or "")
    if port is None:
        port = 443 if parts.scheme.lower() == "https" else 80
    elif port == 0:
        raise UnsafeWebhookUrl("the URL has an invalid port")
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    netloc_host = parts.netloc.rsplit("@", 1)[-1]
    return parts.scheme.lower(), host, port, target, netloc_host


def _ascii_host(host: str) -> str:
    host = host[:-1] if host.endswith(".") else host
    if not host:
        raise UnsafeWebhookUrl("the URL has no host")
    if ":" in host:
        return host  # an IPv6 literal (brackets already removed)
    try:
        return host.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise UnsafeWebhookUrl("the URL's host is not a valid domain name") from None


def ip_literal(host: str) -> IPAddress | None:
    """The address ``host`` spells, in any IPv6 or ``inet_aton`` IPv4 form; ``None`` for names.

    A host whose last label is numeric is an IPv4 address or invalid (as in the
    WHATWG URL standard), so ``0x7f.1`` and ``2130706433`` can never slip
    through as "names".
    """
    if ":" in host:
        if "%" in host:
            raise UnsafeWebhookUrl("IPv6 zone identifiers are not allowed")
        try:
            return ipaddress.IPv6Address(host)
        except ValueError:
            raise UnsafeWebhookUrl(f"{host!r} is not a valid IPv6 address") from None
    labels = host.split(".")
    if not _NUMERIC_LABEL.match(labels[-1]):
        return None
    value = _inet_aton(labels)
    if value is None:
        raise UnsafeWebhookUrl(f"{host!r} is not a valid IPv4 address")
    return ipaddress.IPv4Address(value)


def _inet_aton(labels: list[str]) -> int | None:
    if not 1 <= len(labels) <= 4:
        return None
    numbers = [_ipv4_number(label) for label in labels]
    if any(n is None for n in numbers):
        return None
    values = [n for n in numbers if n is not None]
    *head, last = values
    if any(n > 255 for n in head) or last >= 256 ** (5 - len(values)):
        return None
    result = last
    for index, number in enumerate(head):
        result += number << (8 * (3 - index))
    return result


def _ipv4_number(label: str) -> int | None:
    try:
        if label[:2].lower() == "0x":
            return int(label[2:] or "0", 16)
        if len(label) > 1 and label.startswith("0"):
            return int(label, 8)
        return int(label, 10)
    except ValueError:
        return None


def _is_localhost_name(host: str) -> bool:
    return host == "localhost" or host.endswith(".localhost") or host in ("localhost.localdomain", "ip6-localhost")


def _resolve(resolver: Resolver, host: str, port: int) -> tuple[str, ...]:
    try:
        found = list(resolver(host, port))
    except (OSError, UnicodeError):
        raise UnsafeWebhookUrl(f"host {host!r} does not resolve") from None
    addresses: list[str] = []
    for raw in found:
        try:
            addresses.append(str(ipaddress.ip_address(str(raw).split("%", 1)[0])))
        except ValueError:
            raise UnsafeWebhookUrl(f"host {host!r} resolves to an invalid address") from None
    if not addresses:
        raise UnsafeWebhookUrl(f"host {host!r} does not resolve")
    return tuple(dict.fromkeys(addresses))


def address_problem(address: IPAddress) -> str | None:
    """Why ``address`` may not receive webhooks (``"loopback"``, ``"private"``, …), or ``None``.

    IPv6 forms that embed an IPv4 address (IPv4-mapped, IPv4-compatible, 6to4,
    NAT64) are judged by the address they embed.
    """
    if isinstance(address, ipaddress.IPv6Address):
        if address in _NAT64_LOCAL:
            return "local-use NAT64"
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            return _ipv4_problem(embedded)
        return _ipv6_problem(address)
    return _ipv4_problem(address)


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64 or (address in _IPV4_COMPATIBLE and int(address) > 1):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _ipv4_problem(address: ipaddress.IPv4Address) -> str | None:
    if address in _SHARED:
        return "shared (carrier-grade NAT)"
    return _common_problem(address)


def _ipv6_problem(address: ipaddress.IPv6Address) -> str | None:
    if address.teredo is not None:
        return "Teredo tunnel"
    return _common_problem(address)


def _common_problem(address: IPAddress) -> str | None:
    checks = (
        (address.is_unspecified, "unspecified"),
        (address.is_loopback, "loopback"),
        (address.is_link_local, "link-local"),
        (address.is_multicast, "multicast"),
        (address.is_reserved, "reserved"),
        (address.is_private, "private"),
        (not address.is_global, "non-public"),
    )
    return next((name for failed, name in checks if failed), None)
