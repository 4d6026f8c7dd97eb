"""OAuth connect: a person connects a platform account to a product through the browser.

1. :func:`start` (``POST /products/{id}/connections``) checks that the channel
   is installed and declares ``Capability.OAUTH_CONNECT``, then asks the
   plugin for the consent URL, passing a *state* and the redirect URI
   ``{MARKAESTRO_PUBLIC_URL}/oauth/callback/{channel}``.
2. The platform sends the person back to the callback with ``code`` and
   ``state``. :func:`read_state` checks the state, :func:`claim_once` spends
   it, and :func:`finish` exchanges the code, lists the destinations the
   account grants and creates or reconnects each on the product, tokens
   sealed, in one transaction after every platform call succeeded.

The state is ``base64url(claims JSON) "." base64url(HMAC-SHA256)``: the
claims bind it to workspace, product, channel, provider and an expiry
(:data:`STATE_TTL`), and hold 128 random bits (its id). The HMAC key is
derived from each ``MARKAESTRO_SECRET_KEY`` key (the first signs, all verify,
as for credentials), so no table is needed. Single use is a Redis
``SET NX`` on the state's id, kept until the state would have expired anyway.
A state is spent when the callback first presents it, whatever follows (an
authorization code is single use at the platform too): after a platform
error the person starts again.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import redis
from sqlalchemy.orm import Session

from plugins.errors import ChannelError
from plugins.manager import Channels
from plugins.types import Capability, ConnectedDestination, Credentials

from ..errors import BadRequest, CoreError, Unprocessable
from ..models import Destination, Product
from ..timeutil import utcnow
from . import catalog, destinations

STATE_TTL = timedelta(minutes=10)  #: how long a person has to consent
CALLBACK_PATH = "/oauth/callback/{channel}"
USED_KEY = "markaestro:oauth:state-used:{id}"
_KEY_CONTEXT = b"markaestro oauth state v1"
T = TypeVar("T")


class BadGateway(CoreError):
    """The platform refused or failed a call the connect flow needs."""

    status, code, title = 502, "platform_error", "Bad gateway"


@dataclass(frozen=True)
class StateClaims:
    """What a state binds: who asked, for which product and channel, until when."""

    state_id: str
    workspace_id: str
    product_id: str
    channel: str
    provider: str
    expires_at: datetime


@dataclass(frozen=True)
class Started:
    """A connect flow waiting for the person's consent."""

    authorize_url: str
    state: str
    expires_at: datetime
    redirect_uri: str


def redirect_uri(public_url: str, channel: str) -> str:
    """Where the platform sends the person back: give it to the platform app's settings."""
    return public_url.rstrip("/") + CALLBACK_PATH.format(channel=channel)


def start(
    session: Session, channels: Channels, *, workspace_id: str, product_id: str, channel: str,
    provider: str | None, public_url: str, secret_keys: str, now: datetime | None = None,
) -> Started:
    """Begin connecting an account on ``channel`` to the workspace's product.

    :param provider: the login provider; ``None`` means the channel's first.
    :raises NotFound: no such product in the workspace.
    :raises Unprocessable: the channel is not installed or has no OAuth connect
        (the detail names those that do), the provider is not the channel's,
        or the plugin cannot build a consent URL (e.g. no client id set).
    """
    catalog.get_product(session, workspace_id, product_id)
    chosen = _oauth_provider(channels, channel, provider)
    claims = StateClaims(secrets.token_urlsafe(16), workspace_id, product_id, channel, chosen,
                         (now or utcnow()) + STATE_TTL)
    state = sign_state(secret_keys, claims)
    uri = redirect_uri(public_url, channel)
    try:
        url = channels.oauth_authorize_url(channel, provider=chosen, redirect_uri=uri, state=state)
    except ChannelError as exc:
        raise Unprocessable(exc.message, code="oauth_connect_unavailable") from exc
    return Started(url, state, claims.expires_at, uri)


def _oauth_provider(channels: Channels, channel: str, provider: str | None) -> str:
    able = sorted(name for name, spec in channels.specs.items() if Capability.OAUTH_CONNECT in spec.capabilities)
    offered = f"channels with OAuth connect: {', '.join(able) or 'none'}"
    spec = channels.specs.get(channel)
    if spec is None:
        raise Unprocessable(f"channel {channel!r} is not installed; {offered}", code="channel_not_installed")
    if Capability.OAUTH_CONNECT not in spec.capabilities:
        raise Unprocessable(f"channel {channel!r} offers no OAuth connect (use `markaestro destinations connect`); "
                            f"{offered}", code="oauth_connect_unsupported")
    if provider is None:
        return spec.providers[0]
    if provider not in spec.providers:
        raise Unprocessable(f"channel {channel!r} has no provider {provider!r}; it offers: "
                            f"{', '.join(spec.providers)}", code="unknown_provider")
    return provider


# -- the state ---------------------------------------------------------------


def _keys(secret_keys: str) -> list[bytes]:
    keys = [k.strip().encode() for k in secret_keys.split(",") if k.strip()]
    if not keys:
        raise ValueError("MARKAESTRO_SECRET_KEY holds no key")
    return [hmac.new(k, _KEY_CONTEXT, hashlib.sha256).digest() for k in keys]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign_state(secret_keys: str, claims: StateClaims) -> str:
    """The state string for ``claims``, signed with the first secret key."""
    payload = _b64(json.dumps({
        "id": claims.state_id, "ws": claims.workspace_id, "prod": claims.product_id, "ch": claims.channel,
        "pv": claims.provider, "exp": int(claims.expires_at.timestamp()),
    }, separators=(",", ":")).encode())
    mac = hmac.new(_keys(secret_keys)[0], payload.encode(), hashlib.sha256).digest()
    return f"{payload}.{_b64(mac)}"


def read_state(secret_keys: str, state: str, *, now: datetime | None = None) -> StateClaims:
    """The claims of a state this deployment signed and that has not expired.

    :raises BadRequest: ``invalid_state`` (missing, malformed, forged or
        altered) or ``expired_state``.
    """
    payload, _, mac = state.partition(".")
    try:
        given = _unb64(mac)
        if not any(hmac.compare_digest(hmac.new(k, payload.encode(), hashlib.sha256).digest(), given)
                   for k in _keys(secret_keys)):
            raise ValueError("bad signature")
        document = json.loads(_unb64(payload))
        claims = StateClaims(str(document["id"]), str(document["ws"]), str(document["prod"]), str(document["ch"]),
                             str(document["pv"]), datetime.fromtimestamp(int(document["exp"]), UTC))
    except (ValueError, binascii.Error, TypeError, KeyError):
        raise _invalid_state() from None
    if claims.expires_at <= (now or utcnow()):
        raise BadRequest("The connect link has expired; start the connection again.", code="expired_state")
    return claims


def _invalid_state() -> BadRequest:
    return BadRequest("The state parameter is missing or invalid; start the connection again from the API.",
                      code="invalid_state")


def claim_once(client: redis.Redis, claims: StateClaims, *, now: datetime | None = None) -> None:
    """Spend the state; :class:`BadRequest` ``state_used`` if it was presented before."""
    ttl = max(1, int((claims.expires_at - (now or utcnow())).total_seconds()) + 60)
    if not client.set(USED_KEY.format(id=claims.state_id), "1", nx=True, ex=ttl):
        raise BadRequest("This connect link was already used; start the connection again.", code="state_used")


# -- the callback --------------------------------------------------------------


def refusal(channels: Channels, channel: str, error: str, description: str) -> BadRequest:
    """The 400 for a callback the platform sent with ``error`` instead of a code."""
    title = channels.spec(channel).title
    error, description = error[:100], description[:300]  # echoed from the query string: keep it short
    said = f" ({description})" if description else ""
    if error == "access_denied":
        return BadRequest(f"The person declined to connect their {title} account{said}; nothing was connected.",
                          code="oauth_access_denied")
    return BadRequest(f"{title} did not authorize the connection: {error}{said}; nothing was connected.",
                      code="oauth_error")


def finish(
    session: Session, channels: Channels, secret_keys: str, claims: StateClaims, *, code: str, callback_uri: str,
) -> tuple[Product, list[Destination]]:
    """Exchange ``code`` and create or reconnect every destination the account grants; commit.

    Each listed destination on an installed channel is upserted on the
    state's product with its own credentials or else the account's, sealed;
    ``fanOut`` keeps the listed ids that are part of this listing.

    :raises BadRequest: ``invalid_state`` when the product is gone or not the
        state's workspace's.
    :raises BadGateway: the plugin raised a :class:`ChannelError`; nothing written.
    :raises Unprocessable: ``no_destinations``: the account grants none.
    """
    _product_of(session, claims)
    session.commit()  # no transaction (SQLite: no write lock) held across the platform calls
    credentials = _platform(lambda: channels.oauth_exchange_code(
        claims.channel, provider=claims.provider, code=code, redirect_uri=callback_uri))
    found = _platform(lambda: channels.list_destinations(
        claims.channel, provider=claims.provider, credentials=credentials))
    usable = [d for d in found if d.destination.channel in channels.specs and d.destination.account_id.strip()]
    if not usable:
        raise Unprocessable(f"The {channels.spec(claims.channel).title} account grants no destination to publish "
                            "to; nothing was connected.", code="no_destinations")
    product = _product_of(session, claims)
    rows = _store(session, secret_keys, product, usable, credentials)
    session.commit()
    return product, rows


def _product_of(session: Session, claims: StateClaims) -> Product:
    product = session.get(Product, claims.product_id)
    if product is None or product.workspace_id != claims.workspace_id:
        raise _invalid_state()
    return product


def _platform(call: Callable[[], T]) -> T:
    try:
        return call()
    except ChannelError as exc:
        raise BadGateway(exc.message) from exc


def _store(session: Session, secret_keys: str, product: Product, found: Sequence[ConnectedDestination],
           account: Credentials) -> list[Destination]:
    listed = {d.destination.id for d in found}
    rows = []
    for item in found:
        row = destinations.upsert(session, secret_keys, product, item.destination, item.credentials or account)
        row.details = {**(row.details or {}), **dict(item.destination.metadata)}
        row.fan_out = [ident for ident in item.fan_out if ident in listed]
        rows.append(row)
    return rows
