"""A test plugin (registered through ``MARKAESTRO_EXTRA_PLUGINS``) that records ``publish_finished`` calls.

Each call appends one JSON line to the file named by ``FINISH_RECORDER_FILE``
(workers are other processes), then raises: the core must log and ignore it.
"""

from __future__ import annotations

import json
import os

from plugins import hookimpl
from plugins.types import ChannelSpec, Destination, Post, PublishOutcome


class RecorderFailure(RuntimeError):
    """Raised on purpose after recording."""


@hookimpl
def publish_finished(channel: ChannelSpec, destination: Destination, post: Post, outcome: PublishOutcome) -> None:
    line = {"channel": channel.name, "destination": destination.id, "post": post.idempotency_token,
            "state": str(outcome.state), "externalId": outcome.external_id, "errorCode": outcome.error_code}
    with open(os.environ["FINISH_RECORDER_FILE"], "a") as sink:
        sink.write(json.dumps(line) + "\n")
    raise RecorderFailure("a notification plugin that fails must not change the target")


def recorded(path: str) -> list[dict[str, str]]:
    """The recorded calls, in order (none when the file does not exist yet)."""
    if not os.path.exists(path):
        return []
    with open(path) as source:
        return [json.loads(line) for line in source if line.strip()]
