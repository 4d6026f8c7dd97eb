"""Products and their destinations (spec §2.1, §2.2)."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask.views import MethodView

from ..auth import current_workspace_id
from ..channels import current_channels
from ..db_session import get_session
from ..extensions import Blueprint
from ..pagination import PageArgs
from ..services import catalog
from .fields import Output, Timestamp, page_schema
from .serializers import destination_document

blp = Blueprint("products", __name__, url_prefix="/products", description="Products and their destinations")


class ProductSchema(Output):
    id = ma.fields.String(metadata={"example": "prod_123"})
    name = ma.fields.String()
    channels = ma.fields.List(ma.fields.String(), metadata={"description": "channels with a connected destination"})
    createdAt = Timestamp()


class DestinationSchema(Output):
    id = ma.fields.String(metadata={"example": "instagram:instagram:ig_123"})
    channel = ma.fields.String()
    provider = ma.fields.String()
    accountId = ma.fields.String()
    name = ma.fields.String()
    status = ma.fields.String(metadata={"enum": ["connected", "needs_reauth", "disabled"]})
    delivery = ma.fields.String(metadata={"enum": ["direct", "inbox_handoff"]})
    fanOut = ma.fields.List(ma.fields.String())
    rules = ma.fields.Dict(metadata={"description": "the channel's rules (spec §3)"})


def _product(view: catalog.ProductView) -> dict[str, Any]:
    p = view.product
    return {"id": p.id, "name": p.name, "channels": view.channels, "createdAt": p.created_at}


@blp.route("")
class Products(MethodView):
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, page_schema(ProductSchema, "ProductPage"))
    @blp.errors(400)
    def get(self, page: dict[str, Any]) -> dict[str, Any]:
        """List the workspace's products with their available channels."""
        views, cursor = catalog.list_products(get_session(), current_channels(), current_workspace_id(),
                                              page["limit"], page["cursor"])
        return {"data": [_product(v) for v in views], "nextCursor": cursor}


@blp.route("/<product_id>")
class ProductById(MethodView):
    @blp.response(200, ProductSchema)
    @blp.errors(404)
    def get(self, product_id: str) -> dict[str, Any]:
        """Get one product."""
        return _product(catalog.product_view(get_session(), current_channels(), current_workspace_id(), product_id))


@blp.route("/<product_id>/destinations")
class ProductDestinations(MethodView):
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, page_schema(DestinationSchema, "DestinationPage"))
    @blp.errors(400, 404)
    def get(self, page: dict[str, Any], product_id: str) -> dict[str, Any]:
        """List the product's publish destinations with each channel's rules."""
        channels = current_channels()
        rows, cursor = catalog.list_destinations(get_session(), channels, current_workspace_id(), product_id,
                                                 page["limit"], page["cursor"])
        return {"data": [destination_document(channels, d) for d in rows], "nextCursor": cursor}
