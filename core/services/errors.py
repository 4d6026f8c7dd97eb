"""Shorthands for the errors services raise."""

from __future__ import annotations

from ..errors import NotFound


def not_found(kind: str, ident: str) -> NotFound:
    """The same 404 for a missing id and for another workspace's id."""
    return NotFound(f"No {kind} with id {ident!r} in this workspace.")
