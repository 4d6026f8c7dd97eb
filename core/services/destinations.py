"""Connecting publish destinations: by hand (admin CLI, ``markaestro dev``) or after OAuth.

The CLI pastes tokens; :mod:`core.services.oauth_connect` stores what a
channel's OAuth flow returned through :func:`upsert`. Tokens are sealed with
:func:`core.services.credentials.seal` for the destination row (owner id =
the row's internal ``dst_`` id) and never stored in clear.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from plugins.manager import Channels, UnknownChannelError
from plugins.types import Capability, ChannelSpec, Credentials
from plugins.types import Destination as ListedDestination

from ..errors import Unprocessable
from ..ids import new_id
from ..models import Destination, Product
from ..timeutil import utcnow
from .credentials import seal
from .errors import not_found

FAN_OUT_CHANNEL = "instagram"  #: the channel a Meta Page fans out to
FAN_OUT_PROVIDER = "meta"  #: Instagram accounts linked to a Page come through Facebook Login


@dataclass(frozen=True)
class Connection:
    """What to connect: one account on one channel of a product."""

    product_id: str
    channel: str
    provider: str
    account_id: str
    access_token: str
    refresh_token: str | None = None
    expires_in: int | None = None  #: seconds until the access token expires
    name: str = ""
    linked_instagram_id: str | None = None  #: Meta fan-out target


def connect(session: Session, channels: Channels, secret_keys: str, request: Connection) -> Destination:
    """Create or reconnect the destination ``request`` names; commit and return it.

    Reconnecting an existing destination replaces its tokens and sets it back
    to ``connected``. With ``linked_instagram_id`` the Instagram account
    linked to the Page is connected as ``instagram:meta:<id>`` with the same
    tokens, and the Page's ``fanOut`` lists both.

    :raises NotFound: the product does not exist.
    :raises Unprocessable: channel not installed, provider not offered by
        it, empty account id or token, or a fan-out link the channel cannot do.
    """
    product = session.get(Product, request.product_id)
    if product is None:
        raise not_found("product", request.product_id)
    _check(channels, request)
    credentials = _credentials(request)
    row = _upsert(session, secret_keys, product, request.channel, request.provider, request.account_id,
                  request.name, credentials)
    if request.linked_instagram_id:
        linked = _upsert(session, secret_keys, product, FAN_OUT_CHANNEL, FAN_OUT_PROVIDER,
                         request.linked_instagram_id, request.name, credentials)
        linked.details = {**(linked.details or {}), "linkedPageId": row.account_id}
        row.details = {**(row.details or {}), "linkedInstagramId": linked.account_id}
        row.fan_out = [row.public_id, linked.public_id]
    session.commit()
    return row


def _check(channels: Channels, request: Connection) -> None:
    spec = _spec(channels, request.channel)
    if request.provider not in spec.providers:
        raise Unprocessable(f"channel {spec.name!r} has no provider {request.provider!r}; "
                            f"it offers: {', '.join(spec.providers)}", code="unknown_provider")
    if not request.account_id.strip():
        raise Unprocessable("the account id must not be empty", code="invalid_account_id")
    if not request.access_token.strip():
        raise Unprocessable("the access token must not be empty", code="invalid_access_token")
    if request.expires_in is not None and request.expires_in <= 0:
        raise Unprocessable(f"expires-in must be a positive number of seconds; got {request.expires_in}",
                            code="invalid_expires_in")
    if request.linked_instagram_id is not None:
        if Capability.FAN_OUT not in spec.capabilities:
            raise Unprocessable(f"channel {spec.name!r} does not fan out, so it takes no linked Instagram account",
                                code="fan_out_unsupported")
        if FAN_OUT_PROVIDER not in _spec(channels, FAN_OUT_CHANNEL).providers:
            raise Unprocessable(f"channel {FAN_OUT_CHANNEL!r} has no provider {FAN_OUT_PROVIDER!r}",
                                code="unknown_provider")


def _spec(channels: Channels, channel: str) -> ChannelSpec:
    try:
        return channels.spec(channel)
    except UnknownChannelError:
        installed = ", ".join(sorted(channels.specs)) or "none"
        raise Unprocessable(f"channel {channel!r} is not installed; installed channels: {installed}",
                            code="channel_not_installed") from None


def _credentials(request: Connection) -> Credentials:
    expires_at = utcnow() + timedelta(seconds=request.expires_in) if request.expires_in else None
    return Credentials(access_token=request.access_token, refresh_token=request.refresh_token or None,
                       expires_at=expires_at)


def _upsert(
    session: Session, secret_keys: str, product: Product, channel: str, provider: str, account_id: str,
    name: str, credentials: Credentials,
) -> Destination:
    row = session.scalars(select(Destination).where(
        Destination.product_id == product.id, Destination.channel == channel,
        Destination.provider == provider, Destination.account_id == account_id,
    )).one_or_none()
    if row is None:
        row = Destination(id=new_id("dst"), workspace_id=product.workspace_id, product_id=product.id,
                          channel=channel, provider=provider, account_id=account_id, fan_out=[], details={})
        session.add(row)
    row.name = name or row.name or account_id
    row.status = "connected"
    row.credentials = seal(secret_keys, row.id, credentials)
    row.token_expires_at = credentials.expires_at
    return row


def upsert(session: Session, secret_keys: str, product: Product, found: ListedDestination,
           credentials: Credentials) -> Destination:
    """Create or reconnect ``found`` on ``product`` with sealed ``credentials``; the caller commits.

    For the OAuth connect callback (:mod:`core.services.oauth_connect`).
    """
    return _upsert(session, secret_keys, product, found.channel, found.provider, found.account_id, found.name,
                   credentials)


def get_product(session: Session, product_id: str) -> Product:
    """Any workspace's product (the admin CLI is not scoped to a workspace)."""
    product = session.get(Product, product_id)
    if product is None:
        raise not_found("product", product_id)
    return product

