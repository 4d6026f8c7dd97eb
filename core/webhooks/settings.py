"""Webhook settings, read from the app config (``MARKAESTRO_WEBHOOK_*``).

| key | default | meaning |
| --- | --- | --- |
| ``MARKAESTRO_WEBHOOK_ALLOW_PRIVATE`` | false | allow http and private addresses (development) |
| ``MARKAESTRO_WEBHOOK_TIMEOUT_SECONDS`` | 10 | connect + total time of one attempt |
| ``MARKAESTRO_WEBHOOK_RETRY_SCHEDULE`` | 5,300,1800,7200,18000,36000,36000 | seconds before each retry |
| ``MARKAESTRO_WEBHOOK_RETRY_JITTER`` | 0.1 | ± fraction of random jitter on each delay |
| ``MARKAESTRO_WEBHOOK_DISABLE_AFTER_SECONDS`` | 432000 (5 days) | continuous failure that disables |
| ``MARKAESTRO_WEBHOOK_QUEUE_NAME`` | markaestro-webhooks | the RQ queue of delivery jobs |
| ``MARKAESTRO_WEBHOOK_MAX_RESPONSE_BYTES`` | 65536 | response body read cap |
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..config import ConfigError, as_bool

DEFAULT_SCHEDULE = (5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0)
QUEUE_NAME = "markaestro-webhooks"
ALLOW_PRIVATE = "MARKAESTRO_WEBHOOK_ALLOW_PRIVATE"


@dataclass(frozen=True)
class WebhookSettings:
    allow_private: bool = False
    timeout: float = 10.0
    retry_schedule: tuple[float, ...] = DEFAULT_SCHEDULE
    jitter: float = 0.1
    disable_after: float = 5 * 86400.0
    queue_name: str = QUEUE_NAME
    max_response_bytes: int = 65536

    @property
    def lease_seconds(self) -> float:
        """How long an in-flight attempt holds its delivery before a sweep may retry it."""
        return self.timeout + 60.0


def webhook_settings(config: Mapping[str, Any]) -> WebhookSettings:
    """The settings of ``config``; :class:`ConfigError` names a bad value."""
    return WebhookSettings(
        allow_private=as_bool(config.get(ALLOW_PRIVATE, False), ALLOW_PRIVATE),
        timeout=_number(config, "MARKAESTRO_WEBHOOK_TIMEOUT_SECONDS", 10.0),
        retry_schedule=_schedule(config.get("MARKAESTRO_WEBHOOK_RETRY_SCHEDULE")),
        jitter=_number(config, "MARKAESTRO_WEBHOOK_RETRY_JITTER", 0.1),
        disable_after=_number(config, "MARKAESTRO_WEBHOOK_DISABLE_AFTER_SECONDS", 5 * 86400.0),
        queue_name=str(config.get("MARKAESTRO_WEBHOOK_QUEUE_NAME") or QUEUE_NAME),
        max_response_bytes=int(_number(config, "MARKAESTRO_WEBHOOK_MAX_RESPONSE_BYTES", 65536)),
    )


def _number(config: Mapping[str, Any], key: str, default: float) -> float:
    value = config.get(key)
    if value is None or value == "":
        return default
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{key} must be a number; got {value!r}") from None
    if number < 0:
        raise ConfigError(f"{key} must not be negative; got {value!r}")
    return number


def _schedule(value: Any) -> tuple[float, ...]:
    if value is None or value == "":
        return DEFAULT_SCHEDULE
    items = value.split(",") if isinstance(value, str) else list(value)
    try:
        schedule = tuple(float(item) for item in items)
    except (TypeError, ValueError):
        raise ConfigError(f"MARKAESTRO_WEBHOOK_RETRY_SCHEDULE must be comma-separated seconds; got {value!r}") from None
    if any(delay < 0 for delay in schedule):
        raise ConfigError("MARKAESTRO_WEBHOOK_RETRY_SCHEDULE must not hold negative delays")
    return schedule
