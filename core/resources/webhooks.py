"""Webhook endpoints and their delivery log (spec §2.7, §4)."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import current_app
from flask.views import MethodView

from ..auth import current_workspace_id
from ..db_session import get_session
from ..extensions import Blueprint
from ..models import WebhookDelivery, WebhookEndpoint
from ..pagination import PageArgs
from ..services import webhooks
from ..services.events import EVENT_TYPES
from ..webhooks import jobs
from ..webhooks.settings import webhook_settings
from ..webhooks.ssrf import Resolver, system_resolver
from .fields import Output, Timestamp, page_schema

blp = Blueprint("webhooks", __name__, url_prefix="/webhook-endpoints",
                description="Webhook endpoints receiving signed events (Standard Webhooks v1)")

RESOLVER_EXTENSION = "markaestro.webhook_resolver"  # tests put a fake DNS resolver here


class EndpointCreateSchema(ma.Schema):
    url = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=2000),
                           metadata={"example": "https://example.com/hooks/markaestro"})
    events = ma.fields.List(ma.fields.String(validate=ma.validate.OneOf(EVENT_TYPES)),
                            validate=ma.validate.Length(min=1),
                            metadata={"description": "event types to receive; omitted: all, including future ones"})
    description = ma.fields.String(load_default="", validate=ma.validate.Length(max=500))


class EndpointSchema(Output):
    id = ma.fields.String(metadata={"example": "whe_123"})
    url = ma.fields.String()
    events = ma.fields.List(ma.fields.String())
    status = ma.fields.String(metadata={"enum": ["enabled", "disabled"]})
    disabledReason = ma.fields.String(allow_none=True,
                                      metadata={"enum": [webhooks.DISABLED_BY_USER, webhooks.GONE, webhooks.FAILING]})
    disabledAt = Timestamp(allow_none=True)
    description = ma.fields.String()
    createdAt = Timestamp()


class CreatedEndpointSchema(EndpointSchema):
    secret = ma.fields.String(metadata={"description": "whsec_… signing secret, shown only in this response"})


class AttemptSchema(Output):
    number = ma.fields.Integer()
    trigger = ma.fields.String(metadata={"enum": ["automatic", "manual"]})
    attemptedAt = ma.fields.String()
    statusCode = ma.fields.Integer(allow_none=True)
    durationMs = ma.fields.Integer()
    error = ma.fields.String(allow_none=True)


class DeliverySchema(Output):
    id = ma.fields.String(metadata={"example": "dlv_123"})
    eventId = ma.fields.String(metadata={"description": "also the webhook-id header"})
    eventType = ma.fields.String()
    status = ma.fields.String(metadata={"enum": ["pending", "delivered", "failed", "cancelled"]})
    attempts = ma.fields.List(ma.fields.Nested(AttemptSchema))
    nextAttemptAt = Timestamp(allow_none=True, metadata={"description": "next retry (or lease end while sending)"})
    deliveredAt = Timestamp(allow_none=True)
    createdAt = Timestamp()


def _endpoint(row: WebhookEndpoint) -> dict[str, Any]:
    return {"id": row.id, "url": row.url, "events": list(row.events or EVENT_TYPES), "status": row.status,
            "disabledReason": row.disabled_reason, "disabledAt": row.disabled_at,
            "description": row.description, "createdAt": row.created_at}


def _delivery(row: WebhookDelivery, event_type: str) -> dict[str, Any]:
    return {"id": row.id, "eventId": row.event_id, "eventType": event_type, "status": row.status,
            "attempts": list(row.attempts), "nextAttemptAt": row.next_attempt_at,
            "deliveredAt": row.delivered_at, "createdAt": row.created_at}


def _resolver() -> Resolver:
    resolver: Resolver = current_app.extensions.get(RESOLVER_EXTENSION) or system_resolver
    return resolver


@blp.route("")
class Endpoints(MethodView):
    @blp.arguments(EndpointCreateSchema)
    @blp.response(201, CreatedEndpointSchema)
    @blp.errors(400, 422)
    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """Register an endpoint; the signing secret is shown only in this response."""
        config = current_app.config
        created = webhooks.create_endpoint(
            get_session(), current_workspace_id(), body["url"], body.get("events"), body["description"],
            secret_keys=config["MARKAESTRO_SECRET_KEY"], resolver=_resolver(),
            allow_private=webhook_settings(config).allow_private,
        )
        return {**_endpoint(created.endpoint), "secret": created.secret}

    @blp.arguments(PageArgs, location="query")
    @blp.response(200, page_schema(EndpointSchema, "WebhookEndpointPage"))
    @blp.errors(400)
    def get(self, page: dict[str, Any]) -> dict[str, Any]:
        """List the workspace's endpoints (never their secrets)."""
        rows, cursor = webhooks.list_endpoints(get_session(), current_workspace_id(), page["limit"], page["cursor"])
        return {"data": [_endpoint(r) for r in rows], "nextCursor": cursor}


@blp.route("/<endpoint_id>")
class EndpointById(MethodView):
    @blp.response(200, EndpointSchema)
    @blp.errors(404)
    def get(self, endpoint_id: str) -> dict[str, Any]:
        """Get one endpoint."""
        return _endpoint(webhooks.get_endpoint(get_session(), current_workspace_id(), endpoint_id))

    @blp.response(200, EndpointSchema)
    @blp.errors(404)
    def delete(self, endpoint_id: str) -> dict[str, Any]:
        """Disable the endpoint: nothing more is delivered to it; pending deliveries are cancelled."""
        return _endpoint(webhooks.delete_endpoint(get_session(), current_workspace_id(), endpoint_id))


@blp.route("/<endpoint_id>/deliveries")
class Deliveries(MethodView):
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, page_schema(DeliverySchema, "WebhookDeliveryPage"))
    @blp.errors(400, 404)
    def get(self, page: dict[str, Any], endpoint_id: str) -> dict[str, Any]:
        """The endpoint's deliveries, newest first, with every attempt."""
        rows, cursor = webhooks.list_deliveries(get_session(), current_workspace_id(), endpoint_id,
                                                page["limit"], page["cursor"])
        return {"data": [_delivery(row, kind) for row, kind in rows], "nextCursor": cursor}


@blp.route("/<endpoint_id>/deliveries/<delivery_id>/retry")
class DeliveryRetry(MethodView):
    @blp.response(202, DeliverySchema)
    @blp.errors(404, 409)
    def post(self, endpoint_id: str, delivery_id: str) -> dict[str, Any]:
        """Send the event again now (same webhook-id and body, newly signed), restarting the retry schedule."""
        row, kind = webhooks.retry_delivery(get_session(), current_workspace_id(), endpoint_id, delivery_id)
        jobs.enqueue_now(current_app.config, row.id)
        return _delivery(row, kind)
