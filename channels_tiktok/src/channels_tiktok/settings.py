"""Typed view of the channel settings the core passes to every hook."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .spec import SETTINGS


def _defaults() -> dict[str, str]:
    return {s.key: s.default for s in SETTINGS if s.default is not None}


@dataclass(frozen=True)
class TikTokSettings:
    """The settings, with the spec's defaults filled in for missing keys."""

    api_url: str
    auth_url: str
    client_key: str
    client_secret: str
    chunk_bytes: int
    pending_share_limit: int
    timeout_s: float

    @classmethod
    def from_mapping(cls, settings: Mapping[str, str]) -> TikTokSettings:
        merged = {**_defaults(), **{k: v for k, v in settings.items() if v not in (None, "")}}
        return cls(
            api_url=merged["api_url"].rstrip("/"),
            auth_url=merged["auth_url"].rstrip("/"),
            client_key=merged.get("client_key", ""),
            client_secret=merged.get("client_secret", ""),
            chunk_bytes=int(merged["chunk_bytes"]),
            pending_share_limit=int(merged["pending_share_limit"]),
            timeout_s=float(merged["timeout_s"]),
        )
