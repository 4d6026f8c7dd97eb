"""Routes for posts (being built)."""

from __future__ import annotations

from ..extensions import Blueprint

blp = Blueprint("posts", __name__, url_prefix="/posts", description="posts")
