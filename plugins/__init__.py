"""The Markaestro plugin contract: everything a channel plugin may import.

A channel plugin imports only from this package: :data:`hookimpl` to mark its
hook implementations, :mod:`plugins.types` for the values that cross the
boundary and :mod:`plugins.errors` for the errors it raises. The hook
specifications themselves live in :mod:`plugins.hookspecs`.
"""

import pluggy

PROJECT_NAME = "markaestro"  #: pluggy project name and entry-point group

hookimpl = pluggy.HookimplMarker(PROJECT_NAME)
"""Decorator marking a channel plugin's hook implementations."""

__all__ = ["PROJECT_NAME", "hookimpl"]
