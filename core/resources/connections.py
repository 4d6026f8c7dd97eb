"""OAuth connections: start connecting a platform account to a product (spec §5, channel-plugins.md item 5).

The answer's ``authorizeUrl`` is for a person's browser. After consent the
platform sends them to ``redirectUri`` (``{MARKAESTRO_PUBLIC_URL}/oauth/callback/{channel}``,
served by :mod:`core.oauth_callback`), which creates or reconnects the
destinations; they then show in ``GET /products/{id}/destinations``.
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import current_app
from flask.views import MethodView

from ..auth import current_workspace_id
from ..channels import current_channels
from ..db_session import get_session
from ..extensions import Blueprint
from ..services import oauth_connect
from .fields import Output, Timestamp

blp = Blueprint("connections", __name__, url_prefix="/products",
                description="OAuth connect: link a platform account to a product through the browser")

STATE_MINUTES = int(oauth_connect.STATE_TTL.total_seconds() // 60)


class ConnectionCreateSchema(ma.Schema):
    channel = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=40),
                               metadata={"example": "tiktok",
                                         "description": "an installed channel offering OAuth connect"})
    provider = ma.fields.String(validate=ma.validate.Length(min=1, max=40),
                                metadata={"example": "tiktok",
                                          "description": "login provider; default: the channel's first"})


class ConnectionSchema(Output):
    authorizeUrl = ma.fields.String(metadata={"description": "send the person's browser here to consent"})
    state = ma.fields.String(metadata={"description": "signed, single-use anti-forgery value bound to this "
                                                      "workspace, product, channel and provider"})
    expiresAt = Timestamp(metadata={"description": f"the state is refused after this ({STATE_MINUTES} minutes)"})
    redirectUri = ma.fields.String(metadata={"description": "the callback the platform app must allow"})


@blp.route("/<product_id>/connections")
class ProductConnections(MethodView):
    @blp.arguments(ConnectionCreateSchema)
    @blp.response(201, ConnectionSchema)
    @blp.errors(404, 422)
    def post(self, body: dict[str, Any], product_id: str) -> dict[str, Any]:
        """Start an OAuth connect flow for the product.

        Only for installed channels declaring OAuth connect (otherwise 422
        naming the channels that do). The person opens `authorizeUrl`
        within the state's lifetime; the platform then calls back
        `redirectUri`, which answers 200 with `{"productId", "destinations"}`
        (the destinations created or reconnected, as listed by
        `GET /products/{id}/destinations`), or a problem: 400 for a missing,
        forged, expired or already used state or a declined consent, 502
        when the platform refuses the code (nothing is written then).
        """
        config = current_app.config
        started = oauth_connect.start(
            get_session(), current_channels(), workspace_id=current_workspace_id(), product_id=product_id,
            channel=body["channel"], provider=body.get("provider"), public_url=config["MARKAESTRO_PUBLIC_URL"],
            secret_keys=config["MARKAESTRO_SECRET_KEY"],
        )
        return {"authorizeUrl": started.authorize_url, "state": started.state, "expiresAt": started.expires_at,
                "redirectUri": started.redirect_uri}
