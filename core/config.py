"""Settings: defaults, overridden by ``MARKAESTRO_*`` environment variables (spec §6).

Every setting is a Flask config key of the same name as its environment
variable, so ``create_app({"MARKAESTRO_RATE_LIMIT": "off"})`` and
``MARKAESTRO_RATE_LIMIT=off`` do the same thing.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

API_PREFIX = "/api/public/v1"

DEFAULTS: dict[str, Any] = {
    "MARKAESTRO_DATABASE_URL": None,  # SQLite file in the instance folder
    "MARKAESTRO_REDIS_URL": "redis://localhost:6379/0",
    "MARKAESTRO_PUBLIC_URL": "http://localhost:8000",
    "MARKAESTRO_MEDIA_DIR": None,  # instance folder / media
    "MARKAESTRO_SECRET_KEY": None,  # read from the instance folder when unset
    "MARKAESTRO_MAX_UPLOAD_BYTES": 1024**3,
    "MARKAESTRO_RATE_LIMIT": "1200/minute",
    "MARKAESTRO_WEBHOOK_ALLOW_PRIVATE": False,
    "MARKAESTRO_POLL_INTERVAL_SECONDS": None,
    "MARKAESTRO_OPERATOR_USER": None,
    "MARKAESTRO_OPERATOR_PASSWORD": None,
    "MARKAESTRO_LOAD_PLUGINS": True,  # load channel plugins from entry points
    "MARKAESTRO_DISABLED_CHANNELS": "",  # comma-separated entry-point names
    "MARKAESTRO_EXTRA_PLUGINS": "",  # comma-separated importable plugin modules
    "MARKAESTRO_QUEUE_NAME": "markaestro",
}

_BOOL = {"1": True, "true": True, "yes": True, "on": True,
         "0": False, "false": False, "no": False, "off": False, "": False}
_RATE = re.compile(r"^\s*(\d+)\s*/\s*(second|minute|hour)\s*$")


class ConfigError(ValueError):
    """A setting has a value the service cannot use; the message names it."""


def from_environment(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """All ``MARKAESTRO_*`` variables of ``environ`` (default ``os.environ``)."""
    environ = os.environ if environ is None else environ
    return {key: value for key, value in environ.items() if key.startswith("MARKAESTRO_")}


def normalize(config: dict[str, Any], instance_path: Path) -> None:
    """Fill derived defaults and coerce types in place; raise :class:`ConfigError`."""
    if not config.get("MARKAESTRO_DATABASE_URL"):
        config["MARKAESTRO_DATABASE_URL"] = f"sqlite:///{instance_path / 'markaestro.db'}"
    if not config.get("MARKAESTRO_MEDIA_DIR"):
        config["MARKAESTRO_MEDIA_DIR"] = str(instance_path / "media")
    config["MARKAESTRO_PUBLIC_URL"] = str(config["MARKAESTRO_PUBLIC_URL"]).rstrip("/")
    config["MARKAESTRO_MAX_UPLOAD_BYTES"] = _integer(config, "MARKAESTRO_MAX_UPLOAD_BYTES")
    for key in ("MARKAESTRO_WEBHOOK_ALLOW_PRIVATE", "MARKAESTRO_LOAD_PLUGINS"):
        config[key] = as_bool(config[key], key)
    rate_limit(config["MARKAESTRO_RATE_LIMIT"])  # validates
    if not config.get("MARKAESTRO_SECRET_KEY"):
        config["MARKAESTRO_SECRET_KEY"] = _instance_secret(instance_path)


def as_bool(value: object, name: str = "setting") -> bool:
    if isinstance(value, bool):
        return value
    try:
        return _BOOL[str(value).strip().lower()]
    except KeyError:
        raise ConfigError(f"{name} must be true or false; got {value!r}") from None


def _integer(config: Mapping[str, Any], key: str) -> int:
    try:
        return int(config[key])
    except (TypeError, ValueError):
        raise ConfigError(f"{key} must be an integer; got {config[key]!r}") from None


def rate_limit(value: str) -> str | None:
    """The flask-limiter limit string for ``MARKAESTRO_RATE_LIMIT``, or ``None`` when off."""
    if str(value).strip().lower() == "off":
        return None
    match = _RATE.match(str(value))
    if not match:
        raise ConfigError(f"MARKAESTRO_RATE_LIMIT must look like 1200/minute or off; got {value!r}")
    return f"{match.group(1)} per {match.group(2)}"


def _instance_secret(instance_path: Path) -> str:
    """The Fernet key kept in the instance folder, created on first use."""
    from cryptography.fernet import Fernet

    path = instance_path / "secret.key"
    if not path.exists():
        instance_path.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(Fernet.generate_key().decode())
    return path.read_text().strip()
