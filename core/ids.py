"""Opaque, prefixed, unguessable identifiers (spec §1)."""

from __future__ import annotations

import secrets
import string

_ALPHABET = string.ascii_letters + string.digits
PREFIXES = frozenset({"ws", "prod", "ast", "pst", "run", "whe", "evt", "key", "dlv", "dst"})


def new_id(prefix: str, length: int = 24) -> str:
    """``{prefix}_`` followed by ``length`` random base62 characters (~143 bits)."""
    assert prefix in PREFIXES, prefix
    return f"{prefix}_{random_token(length)}"


def random_token(length: int) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def split_destination_id(value: str) -> tuple[str, str, str] | None:
    """``(channel, provider, account_id)`` of ``"{channel}:{provider}:{accountId}"``.

    Splits on the first two colons only: account ids may contain ``:``.
    Returns ``None`` when a part is missing.
    """
    parts = value.split(":", 2)
    if len(parts) != 3 or not all(parts):
        return None
    return parts[0], parts[1], parts[2]
