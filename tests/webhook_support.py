"""Helpers for the webhook tests: a loopback receiver, a fake resolver, a loopback-only guard."""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from rq import Queue, SimpleWorker
from werkzeug.wrappers import Request, Response

from tests.services import LoopbackServer

HANG = "hang"


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    hanging_elsewhere: int  # requests of other paths still held open when this one arrived


@dataclass
class Receiver:
    """A werkzeug server on 127.0.0.1 answering each path from a script and recording every request.

    ``script[path]`` is a list of answers used in turn (the last one repeats):
    an int status, ``(status, headers)``, or :data:`HANG` (hold the request
    until :meth:`release`).
    """

    script: dict[str, list[Any]] = field(default_factory=dict)
    requests: list[Received] = field(default_factory=list)
    released: threading.Event = field(default_factory=threading.Event)
    port: int = 0
    _hanging: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def to(self, path: str) -> list[Received]:
        return [r for r in self.requests if r.path == path]

    def holding(self, path: str) -> int:
        """How many requests to ``path`` are being held open right now."""
        with self._lock:
            return self._hanging.get(path, 0)

    def release(self) -> None:
        self.released.set()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        with self._lock:
            others = sum(n for p, n in self._hanging.items() if p != request.path)
            self.requests.append(Received(request.path, dict(request.headers), request.get_data(), others))
            answers = self.script.get(request.path, [200])
            answer = answers.pop(0) if len(answers) > 1 else answers[0]
        if answer == HANG:
            self._hold(request.path)
            answer = 200
        status, headers = answer if isinstance(answer, tuple) else (answer, {})
        return Response(b"ok", status=status, headers=headers)(environ, start_response)

    def _hold(self, path: str) -> None:
        with self._lock:
            self._hanging[path] = self._hanging.get(path, 0) + 1
        self.released.wait(30)
        with self._lock:
            self._hanging[path] -= 1


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()
    with LoopbackServer(state) as server:
        state.port = server.port
        yield state
        state.release()


class FakeResolver:
    """``resolver(host, port)`` answering from a table; ``answers[host]`` may be a list used in turn."""

    def __init__(self, table: dict[str, Any] | None = None) -> None:
        self.table: dict[str, Any] = dict(table or {})
        self.calls: list[str] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.calls.append(host)
        answer = self.table.get(host)
        if answer is None:
            raise socket.gaierror(socket.EAI_NONAME, "unknown host")
        if answer and isinstance(answer[0], list):
            return answer.pop(0) if len(answer) > 1 else answer[0]
        return list(answer)


@pytest.fixture
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Make any socket connect to a non-loopback address fail the test; returns the addresses connected to."""
    real_connect = socket.socket.connect
    seen: list[Any] = []

    def guarded(self: socket.socket, address: Any) -> Any:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            host = address[0]
            if not ipaddress.ip_address(host.split("%", 1)[0]).is_loopback:
                raise AssertionError(f"test tried to connect off loopback: {address!r}")
        seen.append(address)
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)
    return seen


class BurstWorker(SimpleWorker):
    """An in-process RQ worker for burst runs, without the pubsub command channel.

    (redis-py can take up to a minute to stop RQ's pubsub thread; burst runs need no commands.)
    """

    def subscribe(self) -> None:
        self.pubsub_thread = None


def work_burst(queue: Queue) -> None:
    BurstWorker([queue], connection=queue.connection, serializer=queue.serializer).work(
        burst=True, logging_level="WARNING")
