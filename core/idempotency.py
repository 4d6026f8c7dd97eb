"""``Idempotency-Key`` handling for every POST (spec §1.3) (being built)."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Install the idempotency layer."""
