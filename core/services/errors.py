"""Shorthands for the errors services raise, and the workspace-scoped lookup."""

from __future__ import annotations

from typing import Protocol, TypeVar

from sqlalchemy.orm import Session

from ..errors import NotFound


class _Owned(Protocol):
    workspace_id: str


Owned = TypeVar("Owned", bound=_Owned)


def not_found(kind: str, ident: str) -> NotFound:
    """The same 404 for a missing id and for another workspace's id."""
    return NotFound(f"No {kind} with id {ident!r} in this workspace.")


def get_owned(session: Session, model: type[Owned], workspace_id: str, ident: str, kind: str) -> Owned:
    """The row ``ident`` of ``model`` if it belongs to ``workspace_id``.

    :raises NotFound: the same 404 whether it is missing or another workspace's.
    """
    row = session.get(model, ident)
    if row is None or row.workspace_id != workspace_id:
        raise not_found(kind, ident)
    return row
