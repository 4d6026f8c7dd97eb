"""Row → public JSON documents, shared by views and the CLI."""

from __future__ import annotations

from typing import Any

from plugins.manager import Channels

from ..models import Destination
from ..services.rules import public_rules


def destination_document(channels: Channels, row: Destination) -> dict[str, Any]:
    spec = channels.spec(row.channel)
    return {
        "id": row.public_id,
        "channel": row.channel,
        "provider": row.provider,
        "accountId": row.account_id,
        "name": row.name,
        "status": row.status,
        "delivery": spec.delivery.value,
        "fanOut": list(row.fan_out or []),
        "rules": public_rules(spec),
    }
