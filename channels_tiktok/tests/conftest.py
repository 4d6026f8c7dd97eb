"""Fixtures for the TikTok plugin tests (defined in :mod:`tiktok_support`, a uniquely named module)."""

from tiktok_support import account, channels, make_channels, media_server, pacer, sandbox

__all__ = ["account", "channels", "make_channels", "media_server", "pacer", "sandbox"]
