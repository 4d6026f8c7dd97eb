"""The ``markaestro`` admin CLI (spec §5): JSON out, one-line errors, tokens sealed at rest."""

from __future__ import annotations

import importlib.machinery
import json
import os
import subprocess
import sys
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from cryptography.fernet import Fernet
from sqlalchemy import select

from core.cli import cli
from core.db import make_engine, make_session_factory, session_scope
from core.models import Destination, WebhookEndpoint
from core.services import api_keys
from core.services.credentials import decrypt_text, encrypt_text, unseal
from core.services.rules import public_rules
from plugins import hookimpl
from plugins.testing import fake_channel
from plugins.types import Capability, ChannelRules, ChannelSpec, SettingSpec

SECRET_KEY = "Qq7W7pD9N3vQ2eqk0oT2mYx8l2bq2cT7Xk1i4oQW7dE="
SCRIPT = Path(sys.executable).with_name("markaestro")


class MetaLikeChannels:
    """A Page channel that fans out and an Instagram channel reachable through it (for --linked-instagram-id)."""

    RULES = ChannelRules(text_only=True, min_items=0, max_items=0, max_images=0, max_videos=0,
                         mixed_media=False, caption_max_length=100)

    @hookimpl
    def register_channels(self) -> list[ChannelSpec]:
        return [
            ChannelSpec(name="meta", title="Meta", rules=self.RULES, providers=("meta",),
                        capabilities=frozenset({Capability.FAN_OUT}),
                        settings=(SettingSpec("client_secret", "MARKAESTRO_META_CLIENT_SECRET", secret=True),)),
            ChannelSpec(name="instagram", title="Instagram", rules=self.RULES, providers=("instagram", "meta")),
        ]


@dataclass
class Cli:
    """Runs commands against a fresh, migrated SQLite database chosen through the environment."""

    db_path: Path
    env: dict[str, str]
    plugins: tuple[object, ...] = ()

    def run(self, *args: str, code: int = 0) -> Result:
        result = CliRunner().invoke(cli, list(args), obj={"plugins": self.plugins}, prog_name="markaestro")
        assert result.exit_code == code, result.output
        return result

    def json(self, *args: str) -> Any:
        return json.loads(self.run(*args).stdout)

    def error(self, *args: str) -> str:
        """The one-line error of a failing command."""
        result = self.run(*args, code=1)
        assert "Traceback" not in result.output
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
        return lines[0]

    def sessions(self) -> Any:
        return make_session_factory(make_engine(f"sqlite:///{self.db_path}"))

    def db_bytes(self) -> bytes:
        """Everything SQLite has written: the database file and its write-ahead log."""
        files = [self.db_path, self.db_path.with_name(self.db_path.name + "-wal")]
        return b"".join(f.read_bytes() for f in files if f.exists())


@pytest.fixture
def blank_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, redis_url: str) -> Cli:
    for key in [k for k in os.environ if k.startswith("MARKAESTRO_")]:
        monkeypatch.delenv(key)
    db_path = tmp_path / "cli.db"
    env = {
        "MARKAESTRO_INSTANCE_PATH": str(tmp_path / "instance"),
        "MARKAESTRO_DATABASE_URL": f"sqlite:///{db_path}",
        "MARKAESTRO_REDIS_URL": redis_url,
        "MARKAESTRO_SECRET_KEY": SECRET_KEY,
        "MARKAESTRO_LOAD_PLUGINS": "false",
        "MARKAESTRO_EXTRA_PLUGINS": "plugins.testing.fake_channel",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return Cli(db_path, env)


@pytest.fixture
def run(blank_cli: Cli) -> Cli:
    blank_cli.json("db", "upgrade")
    return blank_cli


@pytest.fixture
def workspace(run: Cli) -> str:
    return str(run.json("workspaces", "create", "Acme")["id"])


@pytest.fixture
def product(run: Cli, workspace: str) -> str:
    return str(run.json("products", "create", "--workspace", workspace, "--name", "Spring drop")["id"])


def connect(run: Cli, product: str, *extra: str, token: str = "tok-plain-123") -> Any:
    return run.json("destinations", "connect", "--product", product, "--channel", "fake", "--provider", "fake",
                    "--account-id", "acct:with:colons", "--access-token", token, *extra)


# -- db, workspaces, keys ------------------------------------------------------


def test_db_upgrade_reports_the_database_and_is_repeatable(blank_cli: Cli) -> None:
    first = blank_cli.json("db", "upgrade")
    assert first == {"database": f"sqlite:///{blank_cli.db_path}", "revision": "head"}
    assert blank_cli.json("db", "upgrade") == first


def test_commands_before_upgrade_say_to_run_it(blank_cli: Cli) -> None:
    assert "run `markaestro db upgrade` first" in blank_cli.error("workspaces", "create", "Acme")


def test_workspace_create_prints_the_workspace(run: Cli) -> None:
    document = run.json("workspaces", "create", "Acme")
    assert document["id"].startswith("ws_") and document["name"] == "Acme"
    assert document["createdAt"].endswith("Z")


def test_empty_workspace_name_is_refused(run: Cli) -> None:
    assert run.error("workspaces", "create", "  ") == "Error: the workspace name must not be empty"


def test_api_key_is_shown_once_and_authenticates(run: Cli, workspace: str) -> None:
    document = run.json("api-keys", "create", "--workspace", workspace, "--name", "ci")
    assert document["id"].startswith("key_") and document["key"].startswith("mk_")
    assert document["workspaceId"] == workspace and document["name"] == "ci"
    assert document["key"].encode() not in run.db_bytes()
    with session_scope(run.sessions()) as session:
        row = api_keys.authenticate(session, document["key"])
        assert row is not None and row.id == document["id"]


def test_api_key_for_unknown_workspace_is_a_clear_error(run: Cli) -> None:
    assert run.error("api-keys", "create", "--workspace", "ws_nope") == "Error: No workspace with id 'ws_nope'."


def test_revoked_key_no_longer_authenticates(run: Cli, workspace: str) -> None:
    created = run.json("api-keys", "create", "--workspace", workspace)
    revoked = run.json("api-keys", "revoke", created["id"])
    assert revoked["id"] == created["id"] and revoked["revokedAt"].endswith("Z")
    with session_scope(run.sessions()) as session:
        assert api_keys.authenticate(session, created["key"]) is None


def test_revoking_an_unknown_key_is_a_clear_error(run: Cli) -> None:
    assert run.error("api-keys", "revoke", "key_nope") == "Error: No API key with id 'key_nope'."


# -- products and destinations -------------------------------------------------


def test_product_create_prints_the_product(run: Cli, workspace: str) -> None:
    document = run.json("products", "create", "--workspace", workspace, "--name", "Spring drop")
    assert document["id"].startswith("prod_")
    assert (document["workspaceId"], document["name"], document["channels"]) == (workspace, "Spring drop", [])


def test_product_in_unknown_workspace_is_a_clear_error(run: Cli) -> None:
    assert "No workspace with id 'ws_nope'" in run.error("products", "create", "--workspace", "ws_nope",
                                                         "--name", "X")


def test_connect_prints_the_public_destination_without_credentials(run: Cli, product: str) -> None:
    document = connect(run, product, "--name", "Fake account", "--refresh-token", "refresh-plain-456")
    assert document == {
        "id": "fake:fake:acct:with:colons", "channel": "fake", "provider": "fake",
        "accountId": "acct:with:colons", "name": "Fake account", "status": "connected",
        "delivery": "direct", "fanOut": [], "rules": public_rules(fake_channel.SPEC),
    }
    assert "tok-plain-123" not in json.dumps(document)


def test_connect_stores_tokens_encrypted_for_the_row(run: Cli, product: str) -> None:
    connect(run, product, "--refresh-token", "refresh-plain-456", "--expires-in", "3600")
    stored = run.db_bytes()
    assert b"tok-plain-123" not in stored and b"refresh-plain-456" not in stored
    with session_scope(run.sessions()) as session:
        row = session.scalars(select(Destination)).one()
        credentials = unseal(SECRET_KEY, row.id, row.credentials)
        assert (credentials.access_token, credentials.refresh_token) == ("tok-plain-123", "refresh-plain-456")
        assert row.token_expires_at is not None and credentials.expires_at == row.token_expires_at


def _connect_accounts(run: Cli, product: str, count: int) -> None:
    for index in range(count):
        run.json("destinations", "connect", "--product", product, "--channel", "fake", "--provider", "fake",
                 "--account-id", f"acct_{index}", "--access-token", f"tok-{index}")


def _stored_tokens(run: Cli, keys: str) -> dict[str, str]:
    with session_scope(run.sessions()) as session:
        return {row.account_id: unseal(keys, row.id, row.credentials).access_token
                for row in session.scalars(select(Destination))}


def test_secrets_rotate_moves_every_secret_to_the_first_key_so_the_old_one_can_go(
        run: Cli, workspace: str, product: str, monkeypatch: pytest.MonkeyPatch) -> None:
    _connect_accounts(run, product, 3)  # sealed under the old key
    with session_scope(run.sessions()) as session:
        session.add(WebhookEndpoint(id="whe_1", workspace_id=workspace, url="https://hooks.example/a",
                                    secret=encrypt_text(SECRET_KEY, "whsec_kept")))
    new_key = Fernet.generate_key().decode()
    monkeypatch.setenv("MARKAESTRO_SECRET_KEY", f"{new_key},{SECRET_KEY}")

    first, again = run.json("secrets", "rotate"), run.json("secrets", "rotate")

    assert first == {"destinations": {"rotated": 3, "current": 0, "unreadable": 0},
                     "webhookEndpoints": {"rotated": 1, "current": 0, "unreadable": 0}}
    assert again["destinations"] == {"rotated": 0, "current": 3, "unreadable": 0}  # a second run changes nothing
    assert _stored_tokens(run, new_key) == {f"acct_{i}": f"tok-{i}" for i in range(3)}  # the old key retired
    with session_scope(run.sessions()) as session:
        assert decrypt_text(new_key, session.get(WebhookEndpoint, "whe_1").secret) == "whsec_kept"


def test_secrets_rotate_counts_and_leaves_a_token_no_key_opens(run: Cli, product: str,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    _connect_accounts(run, product, 2)
    monkeypatch.setenv("MARKAESTRO_SECRET_KEY", Fernet.generate_key().decode())  # the old key lost

    assert run.json("secrets", "rotate")["destinations"] == {"rotated": 0, "current": 0, "unreadable": 2}


def test_reconnecting_replaces_the_token_of_the_same_destination(run: Cli, product: str) -> None:
    connect(run, product)
    connect(run, product, token="tok-new-789")
    with session_scope(run.sessions()) as session:
        row = session.scalars(select(Destination)).one()
        assert unseal(SECRET_KEY, row.id, row.credentials).access_token == "tok-new-789"


@pytest.mark.parametrize(("change", "message"), [
    (("--channel", "tiktok"), "Error: channel 'tiktok' is not installed; installed channels: fake"),
    (("--provider", "meta"), "Error: channel 'fake' has no provider 'meta'; it offers: fake"),
    (("--product", "prod_nope"), "Error: No product with id 'prod_nope'."),
    (("--access-token", " "), "Error: the access token must not be empty"),
])
def test_connect_refuses_bad_input_in_one_line(run: Cli, product: str, change: tuple[str, str],
                                               message: str) -> None:
    args = {"--product": product, "--channel": "fake", "--provider": "fake", "--account-id": "a1",
            "--access-token": "t"}
    args[change[0]] = change[1]
    error = run.error("destinations", "connect", *[part for pair in args.items() for part in pair])
    assert error.startswith(message)
    with session_scope(run.sessions()) as session:
        assert session.scalars(select(Destination)).first() is None


def test_connect_with_a_bad_expiry_is_a_usage_error(run: Cli, product: str) -> None:
    result = run.run("destinations", "connect", "--product", product, "--channel", "fake", "--provider", "fake",
                     "--account-id", "a1", "--access-token", "t", "--expires-in", "0", code=2)
    assert "--expires-in" in result.stderr


def test_linked_instagram_account_becomes_the_pages_fan_out_target(run: Cli, product: str) -> None:
    run.plugins = (MetaLikeChannels(),)
    page = run.json("destinations", "connect", "--product", product, "--channel", "meta", "--provider", "meta",
                    "--account-id", "page_123", "--access-token", "page-token", "--name", "Acme",
                    "--linked-instagram-id", "17841400000000000")
    assert page["id"] == "meta:meta:page_123"
    assert page["fanOut"] == ["meta:meta:page_123", "instagram:meta:17841400000000000"]
    listed = run.json("destinations", "list", "--product", product)["data"]
    linked = next(d for d in listed if d["channel"] == "instagram")
    assert (linked["id"], linked["provider"], linked["fanOut"]) == ("instagram:meta:17841400000000000", "meta", [])
    with session_scope(run.sessions()) as session:
        row = session.scalars(select(Destination).where(Destination.channel == "instagram")).one()
        assert unseal(SECRET_KEY, row.id, row.credentials).access_token == "page-token"


def test_linking_instagram_to_a_channel_without_fan_out_is_refused(run: Cli, product: str) -> None:
    run.plugins = (MetaLikeChannels(),)
    error = run.error("destinations", "connect", "--product", product, "--channel", "instagram",
                      "--provider", "instagram", "--account-id", "ig_1", "--access-token", "t",
                      "--linked-instagram-id", "178")
    assert error == "Error: channel 'instagram' does not fan out, so it takes no linked Instagram account"


def test_destinations_list_shows_the_products_destinations_newest_first(run: Cli, workspace: str,
                                                                         product: str) -> None:
    other = run.json("products", "create", "--workspace", workspace, "--name", "Other")["id"]
    for account in ("first", "second"):
        run.json("destinations", "connect", "--product", product, "--channel", "fake", "--provider", "fake",
                 "--account-id", account, "--access-token", "t")
    run.json("destinations", "connect", "--product", other, "--channel", "fake", "--provider", "fake",
             "--account-id", "elsewhere", "--access-token", "t")
    listed = run.json("destinations", "list", "--product", product)
    assert [d["id"] for d in listed["data"]] == ["fake:fake:second", "fake:fake:first"]


def test_destinations_list_of_unknown_product_is_a_clear_error(run: Cli) -> None:
    assert run.error("destinations", "list", "--product", "prod_nope") == "Error: No product with id 'prod_nope'."


# -- plugins ---------------------------------------------------------------------


def test_plugins_lists_installed_channels_with_distribution_version_and_rules(run: Cli) -> None:
    documents = {d["name"]: d for d in run.json("plugins")["data"]}
    fake = documents["fake"]
    assert (fake["distribution"], fake["plugin"]) == ("markaestro", "plugins.testing.fake_channel")
    assert fake["version"] == "0.1.0"
    assert (fake["delivery"], fake["providers"]) == ("direct", ["fake"])
    assert fake["rules"] == public_rules(fake_channel.SPEC)
    api_url = next(s for s in fake["settings"] if s["key"] == "api_url")
    assert (api_url["env"], api_url["value"], api_url["secret"]) == ("MARKAESTRO_FAKE_API_URL",
                                                                     "http://127.0.0.1:8010", False)


def test_plugins_redacts_secret_settings(run: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MARKAESTRO_META_CLIENT_SECRET", "very-secret-value")
    run.plugins = (MetaLikeChannels(),)
    result = run.run("plugins")
    assert "very-secret-value" not in result.stdout
    meta = next(d for d in json.loads(result.stdout)["data"] if d["name"] == "meta")
    assert meta["settings"][0]["value"] == "********"


# -- processes --------------------------------------------------------------------


@pytest.fixture
def worker_module(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    """A stand-in ``core.worker`` module, so the wiring is tested whatever the real one does."""
    module = types.ModuleType("core.worker")
    module.__spec__ = importlib.machinery.ModuleSpec("core.worker", None)
    monkeypatch.setitem(sys.modules, "core.worker", module)
    return module


def test_worker_runs_run_worker_with_the_config(run: Cli, worker_module: types.ModuleType) -> None:
    calls: list[tuple[Any, bool]] = []
    worker_module.run_worker = lambda config, burst: calls.append((config, burst))  # type: ignore[attr-defined]
    run.run("worker", "--burst")
    assert len(calls) == 1 and calls[0][1] is True
    assert calls[0][0]["MARKAESTRO_DATABASE_URL"] == run.env["MARKAESTRO_DATABASE_URL"]


def test_worker_without_run_worker_says_it_is_not_available(run: Cli, worker_module: types.ModuleType) -> None:
    assert "not available yet" in run.error("worker")


def test_serve_with_a_bad_setting_fails_in_one_line_before_starting(run: Cli,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MARKAESTRO_RATE_LIMIT", "lots")
    assert run.error("serve", "--port", "8123").startswith("Error: MARKAESTRO_RATE_LIMIT must look like")


def test_missing_required_option_is_a_usage_error(run: Cli) -> None:
    assert "Missing option '--workspace'" in run.run("api-keys", "create", code=2).stderr


@pytest.mark.skipif(not SCRIPT.exists(), reason="the markaestro console script is not installed")
def test_console_script_prints_json_and_one_line_errors(run: Cli) -> None:
    env = {**os.environ, **run.env}
    created = subprocess.run([str(SCRIPT), "workspaces", "create", "Scripted"], env=env, capture_output=True,
                             text=True, check=True)
    assert json.loads(created.stdout)["name"] == "Scripted"
    failed = subprocess.run([str(SCRIPT), "api-keys", "revoke", "key_nope"], env=env, capture_output=True,
                            text=True, check=False)
    assert failed.returncode == 1
    assert failed.stderr.strip() == "Error: No API key with id 'key_nope'."

