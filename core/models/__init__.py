"""Every model, imported so ``Base.metadata`` is complete."""

from .catalog import Destination, Product
from .events import Event, WebhookDelivery, WebhookEndpoint
from .idempotency import IdempotencyRecord
from .media import MediaAsset, MediaRendition
from .posts import Post, PublishTarget
from .runs import JobRun, JobStep
from .workspace import ApiKey, Workspace

__all__ = [
    "ApiKey",
    "Destination",
    "Event",
    "IdempotencyRecord",
    "JobRun",
    "JobStep",
    "MediaAsset",
    "MediaRendition",
    "Post",
    "Product",
    "PublishTarget",
    "WebhookDelivery",
    "WebhookEndpoint",
    "Workspace",
]
