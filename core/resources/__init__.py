"""The public API's resources, registered in order."""

from __future__ import annotations

import importlib

from ..extensions import Api

MODULES = ("products", "connections", "media", "posts", "publishing", "job_runs", "webhooks")


def register_blueprints(api: Api) -> None:
    for name in MODULES:
        module = importlib.import_module(f"{__name__}.{name}")
        api.register_blueprint(module.blp)
