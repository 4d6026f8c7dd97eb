"""Routes for media (being built)."""

from __future__ import annotations

from ..extensions import Blueprint

blp = Blueprint("media", __name__, url_prefix="/media", description="media")
