"""Routes for webhooks (being built)."""

from __future__ import annotations

from ..extensions import Blueprint

blp = Blueprint("webhooks", __name__, url_prefix="/webhooks", description="webhooks")
