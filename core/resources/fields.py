"""Schema fields and bases shared by the resources."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import marshmallow as ma

from ..timeutil import format_timestamp


class Timestamp(ma.fields.DateTime):
    """RFC 3339 UTC with milliseconds out; an explicit offset required in."""

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        return format_timestamp(value)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> datetime:
        parsed = super()._deserialize(value, attr, data, **kwargs)
        if parsed.tzinfo is None:
            raise ma.ValidationError("must carry a UTC offset or 'Z' (e.g. 2026-05-01T09:00:00+02:00)")
        return parsed


class Output(ma.Schema):
    """Base for response schemas (documentation and dumping only)."""

    class Meta:
        ordered = True


def page_schema(item: type[ma.Schema], name: str) -> type[ma.Schema]:
    """A ``{"data": [...], "nextCursor": ...}`` schema around ``item``."""
    return ma.Schema.from_dict(
        {"data": ma.fields.List(ma.fields.Nested(item)), "nextCursor": ma.fields.String(allow_none=True)},
        name=name,
    )
