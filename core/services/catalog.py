"""Workspaces, products and destinations."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from plugins.manager import Channels

from ..ids import new_id
from ..models import Destination, Product, Workspace
from ..pagination import paginate
from .errors import get_owned, not_found


@dataclass(frozen=True)
class ProductView:
    product: Product
    channels: list[str]


def create_workspace(session: Session, name: str) -> Workspace:
    workspace = Workspace(id=new_id("ws"), name=name)
    session.add(workspace)
    session.commit()
    return workspace


def create_product(session: Session, workspace_id: str, name: str) -> Product:
    if session.get(Workspace, workspace_id) is None:
        raise not_found("workspace", workspace_id)
    product = Product(id=new_id("prod"), workspace_id=workspace_id, name=name)
    session.add(product)
    session.commit()
    return product


def get_product(session: Session, workspace_id: str, product_id: str) -> Product:
    """The product, or the same 404 whether it is missing or another workspace's."""
    return get_owned(session, Product, workspace_id, product_id, "product")


def available_channels(session: Session, channels: Channels, product_id: str) -> list[str]:
    """Installed channels on which the product has a connected destination."""
    query = select(Destination.channel).where(
        Destination.product_id == product_id, Destination.status == "connected"
    ).distinct()
    return sorted(name for name in session.scalars(query) if name in channels.specs)


def list_products(
    session: Session, channels: Channels, workspace_id: str, limit: int, cursor: str | None
) -> tuple[list[ProductView], str | None]:
    query = select(Product).where(Product.workspace_id == workspace_id)
    rows, next_cursor = paginate(session, query, Product.created_at, Product.id, limit, cursor)
    return [ProductView(p, available_channels(session, channels, p.id)) for p in rows], next_cursor


def product_view(session: Session, channels: Channels, workspace_id: str, product_id: str) -> ProductView:
    product = get_product(session, workspace_id, product_id)
    return ProductView(product, available_channels(session, channels, product.id))


def list_destinations(
    session: Session, channels: Channels, workspace_id: str, product_id: str, limit: int, cursor: str | None
) -> tuple[Sequence[Destination], str | None]:
    """The product's destinations on installed channels, newest first."""
    get_product(session, workspace_id, product_id)
    query = select(Destination).where(
        Destination.product_id == product_id, Destination.channel.in_(list(channels.specs))
    )
    return paginate(session, query, Destination.created_at, Destination.id, limit, cursor)


def find_destination(session: Session, product_id: str, public_id: str) -> Destination | None:
    from ..ids import split_destination_id

    parts = split_destination_id(public_id)
    if parts is None:
        return None
    channel, provider, account_id = parts
    return session.scalars(select(Destination).where(
        Destination.product_id == product_id, Destination.channel == channel,
        Destination.provider == provider, Destination.account_id == account_id,
    )).one_or_none()
