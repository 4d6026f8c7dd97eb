"""A local emulator of the Instagram content-publishing Graph API.

Serve :func:`create_app` (any WSGI server) and point
``MARKAESTRO_INSTAGRAM_GRAPH_URL`` (and, until the Meta plugin ships its own
Graph sandbox, ``MARKAESTRO_META_GRAPH_URL``), ``MARKAESTRO_INSTAGRAM_API_URL``
and ``MARKAESTRO_INSTAGRAM_OAUTH_URL`` at it. See the plugin README for what
it enforces and the platform source each behaviour follows.
"""

from __future__ import annotations

from plugins.types import Sandbox

from .app import create_app
from .model import Fault, GraphFault, SandboxConfig
from .state import SandboxState

SETTINGS_ENV = (
    "MARKAESTRO_INSTAGRAM_GRAPH_URL",
    "MARKAESTRO_INSTAGRAM_API_URL",
    "MARKAESTRO_INSTAGRAM_OAUTH_URL",
    "MARKAESTRO_META_GRAPH_URL",
)


def sandbox() -> Sandbox:
    """The sandbox as the core serves it (``markaestro dev``)."""
    return Sandbox(name="instagram", settings_env=SETTINGS_ENV, app=create_app())


__all__ = ["SETTINGS_ENV", "Fault", "GraphFault", "SandboxConfig", "SandboxState", "create_app", "sandbox"]
