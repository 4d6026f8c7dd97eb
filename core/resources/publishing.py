"""Routes for publishing (being built)."""

from __future__ import annotations

from ..extensions import Blueprint

blp = Blueprint("publishing", __name__, url_prefix="/posts", description="publishing")
