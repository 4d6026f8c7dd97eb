"""The quick start: `markaestro serve` (gunicorn) answers with a CLI-made key; `dev` seeds its demo once."""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from click.testing import CliRunner
from flask import Flask

from core import create_app
from core.cli import cli
from core.devserver import free_port, seed_demo
from core.migrate import upgrade

SCRIPT = Path(sys.executable).with_name("markaestro")
#: the console script, or the same CLI through the interpreter where the script is not on disk
MARKAESTRO = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "core.cli"]
SECRET_KEY = "Qq7W7pD9N3vQ2eqk0oT2mYx8l2bq2cT7Xk1i4oQW7dE="
needs_gunicorn = pytest.mark.skipif(importlib.util.find_spec("gunicorn") is None, reason="gunicorn is not installed")


@pytest.fixture
def env(tmp_path: Path, redis_url: str) -> dict[str, str]:
    """A fresh environment: temp SQLite and instance folder, the session's real Redis, the fake channel."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("MARKAESTRO_")}
    return {**base,
            "MARKAESTRO_INSTANCE_PATH": str(tmp_path / "instance"),
            "MARKAESTRO_DATABASE_URL": f"sqlite:///{tmp_path / 'quickstart.db'}",
            "MARKAESTRO_REDIS_URL": redis_url,
            "MARKAESTRO_SECRET_KEY": SECRET_KEY,
            "MARKAESTRO_LOAD_PLUGINS": "false",
            "MARKAESTRO_EXTRA_PLUGINS": "plugins.testing.fake_channel"}


def markaestro(env: dict[str, str], *args: str) -> Any:
    done = subprocess.run([*MARKAESTRO, *args], env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.fixture
def server(env: dict[str, str]) -> Iterator[str]:
    """`markaestro serve` on a free port; its base URL once it answers."""
    port = free_port()
    process = subprocess.Popen([*MARKAESTRO, "serve", "--port", str(port), "--workers", "1"], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_answering(base, process)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)
        assert process.stderr is not None
        process.stderr.close()


def wait_until_answering(base: str, process: subprocess.Popen[bytes]) -> None:
    for _ in range(300):
        if process.poll() is not None:
            assert process.stderr is not None
            pytest.fail(f"markaestro serve exited: {process.stderr.read().decode()[-2000:]}")
        try:
            requests.get(f"{base}/api/public/v1/openapi.json", timeout=5)
            return
        except (requests.ConnectionError, requests.Timeout):  # not bound yet, or no worker booted yet
            time.sleep(0.1)
    pytest.fail("markaestro serve did not start listening")


@needs_gunicorn
def test_serve_answers_with_a_key_made_by_the_cli(env: dict[str, str], server: str) -> None:
    markaestro(env, "db", "upgrade")
    workspace = markaestro(env, "workspaces", "create", "Quick start")["id"]
    key = markaestro(env, "api-keys", "create", "--workspace", workspace)["key"]
    product = markaestro(env, "products", "create", "--workspace", workspace, "--name", "Demo")["id"]

    response = requests.get(f"{server}/api/public/v1/products", headers={"Authorization": f"Bearer {key}"},
                            timeout=10)

    assert response.status_code == 200
    assert [p["id"] for p in response.json()["data"]] == [product]
    assert requests.get(f"{server}/api/public/v1/products", timeout=10).status_code == 401


@pytest.fixture
def dev_app(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[Flask]:
    for key, value in env.items():
        if key.startswith("MARKAESTRO_"):
            monkeypatch.setenv(key, value)
    app = create_app()
    upgrade(app.config["MARKAESTRO_DATABASE_URL"])
    yield app
    app.extensions["markaestro.engine"].dispose()


def test_dev_seeds_a_working_demo_once_and_reuses_it(dev_app: Flask) -> None:
    served = {"MARKAESTRO_FAKE_API_URL"}
    first = seed_demo(dev_app, served)
    again = seed_demo(dev_app, served)
    assert (again.workspace_id, again.product_id, again.key) == (first.workspace_id, first.product_id, first.key)
    assert "fake" in {d.split(":")[0] for d in first.destinations}
    client = dev_app.test_client()
    response = client.get(f"/api/public/v1/products/{first.product_id}/destinations",
                          headers={"Authorization": f"Bearer {first.key}"})
    assert response.status_code == 200
    assert sorted(d["id"] for d in response.get_json()["data"]) == sorted(first.destinations)


def test_dev_connects_nothing_for_channels_without_a_running_sandbox(dev_app: Flask) -> None:
    assert seed_demo(dev_app, set()).destinations == []


def test_dev_on_a_busy_port_fails_in_one_line_before_starting_anything(env: dict[str, str],
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in env.items():
        if key.startswith("MARKAESTRO_"):
            monkeypatch.setenv(key, value)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = CliRunner().invoke(cli, ["dev", "--port", str(port)])
    assert result.exit_code == 1
    assert result.stderr == f"Error: cannot listen on 127.0.0.1:{port}: something else is running there; " \
                            "stop it or pass --port\n"
    assert not Path(env["MARKAESTRO_INSTANCE_PATH"], "dev-demo.json").exists()
