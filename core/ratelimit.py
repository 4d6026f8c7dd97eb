"""Per-API-key rate limiting stored in Redis (being built)."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Install the rate limiter."""
