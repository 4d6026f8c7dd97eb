"""The ``markaestro`` admin command line (spec §5).

Every command that creates or lists something prints it as JSON on stdout.
A failure is one line on stderr (``Error: ...``) and a non-zero exit, never
a traceback. Settings come from ``MARKAESTRO_*`` variables, as for the API.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

import click
from flask import Flask
from sqlalchemy.orm import Session

from . import cli_documents as documents
from .db import session_scope

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"]}


class CliGroup(click.Group):
    """A group that turns every known failure into a one-line error."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except Exception as exc:  # the user gets one line, never a traceback
            raise click.ClickException(describe_error(exc)) from exc


def describe_error(exc: Exception) -> str:
    """One line saying what went wrong and, where known, what to do."""
    from redis.exceptions import RedisError
    from sqlalchemy.exc import DBAPIError, OperationalError

    from .config import ConfigError
    from .devserver import DevServerError
    from .errors import CoreError
    from .services.credentials import CredentialsUnreadable

    if isinstance(exc, CoreError):  # the API's wording; the CLI is not scoped to a workspace
        return exc.detail.replace(" in this workspace", "")
    if isinstance(exc, ConfigError | CredentialsUnreadable | DevServerError):
        return str(exc)
    if isinstance(exc, DBAPIError):
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
        if "no such table" in reason or ("relation" in reason and "does not exist" in reason):
            return "the database has no schema yet; run `markaestro db upgrade` first"
        kind = "cannot reach the database" if isinstance(exc, OperationalError) else "database error"
        return f"{kind}: {reason}"
    if isinstance(exc, RedisError):
        return f"cannot reach Redis (MARKAESTRO_REDIS_URL): {exc}"
    return f"{type(exc).__name__}: {exc}"


def emit(document: Any) -> None:
    """Print ``document`` as JSON on stdout."""
    click.echo(json.dumps(document, indent=2))


def fail(message: str) -> NoReturn:
    raise click.ClickException(message)


def get_app(ctx: click.Context) -> Flask:
    """The application (configuration, database, channels), built once per command."""
    state: dict[str, Any] = ctx.ensure_object(dict)
    if "app" not in state:
        from . import create_app

        app = create_app(plugins=tuple(state.get("plugins", ())))
        state["app"] = app
        ctx.call_on_close(app.extensions["markaestro.engine"].dispose)
    app_: Flask = state["app"]
    return app_


@contextmanager
def session(ctx: click.Context) -> Iterator[Session]:
    with session_scope(get_app(ctx).extensions["markaestro.sessions"]) as db:
        yield db


def channels_of(ctx: click.Context) -> Any:
    return get_app(ctx).extensions["markaestro.channels"]


@click.group(cls=CliGroup, context_settings=CONTEXT_SETTINGS)
def cli() -> None:
    """Markaestro admin commands. Settings come from MARKAESTRO_* environment variables."""


# -- database ---------------------------------------------------------------


@cli.group()
def db() -> None:
    """The database schema."""


@db.command("upgrade")
@click.pass_context
def db_upgrade(ctx: click.Context) -> None:
    """Create or migrate the schema to the latest revision."""
    from sqlalchemy.engine import make_url

    from .migrate import upgrade

    url = get_app(ctx).config["MARKAESTRO_DATABASE_URL"]
    upgrade(url)
    emit({"database": make_url(url).render_as_string(hide_password=True), "revision": "head"})


@cli.group()
def secrets() -> None:
    """Stored secrets (platform tokens, webhook signing secrets)."""


@secrets.command("rotate")
@click.pass_context
def secrets_rotate(ctx: click.Context) -> None:
    """Encrypt every stored secret again under the first MARKAESTRO_SECRET_KEY key (then retire the others)."""
    from .services.key_rotation import rotate_all

    app = get_app(ctx)
    emit(rotate_all(app.extensions["markaestro.sessions"], str(app.config["MARKAESTRO_SECRET_KEY"])))


# -- workspaces and keys ----------------------------------------------------


@cli.group()
def workspaces() -> None:
    """Workspaces (tenants)."""


@workspaces.command("create")
@click.argument("name")
@click.pass_context
def workspaces_create(ctx: click.Context, name: str) -> None:
    """Create a workspace called NAME."""
    from .services import catalog

    if not name.strip():
        fail("the workspace name must not be empty")
    with session(ctx) as db_session:
        emit(documents.workspace_document(catalog.create_workspace(db_session, name.strip())))


@cli.group("api-keys")
def api_keys() -> None:
    """API keys (shown once, stored as a hash)."""


@api_keys.command("create")
@click.option("--workspace", "workspace_id", required=True, help="the workspace id (ws_…)")
@click.option("--name", default="", help="a label for the key")
@click.pass_context
def api_keys_create(ctx: click.Context, workspace_id: str, name: str) -> None:
    """Create an API key for a workspace; the key is shown only this once."""
    from .services import api_keys as keys

    with session(ctx) as db_session:
        emit(documents.created_key_document(keys.create_key(db_session, workspace_id, name)))


@api_keys.command("revoke")
@click.argument("key_id")
@click.pass_context
def api_keys_revoke(ctx: click.Context, key_id: str) -> None:
    """Revoke the key KEY_ID (key_…); it is refused from the next request on."""
    from .services import api_keys as keys

    with session(ctx) as db_session:
        emit(documents.revoked_key_document(keys.revoke_key(db_session, key_id)))


# -- products and destinations ----------------------------------------------


@cli.group()
def products() -> None:
    """Products."""


@products.command("create")
@click.option("--workspace", "workspace_id", required=True, help="the workspace id (ws_…)")
@click.option("--name", required=True, help="the product's name")
@click.pass_context
def products_create(ctx: click.Context, workspace_id: str, name: str) -> None:
    """Create a product in a workspace."""
    from .services import catalog

    if not name.strip():
        fail("the product name must not be empty")
    with session(ctx) as db_session:
        emit(documents.product_document(catalog.create_product(db_session, workspace_id, name.strip()), []))


@cli.group()
def destinations() -> None:
    """Publish destinations of a product."""


@destinations.command("connect")
@click.option("--product", "product_id", required=True, help="the product id (prod_…)")
@click.option("--channel", required=True, help="an installed channel, e.g. tiktok")
@click.option("--provider", required=True, help="the login provider, e.g. meta or instagram")
@click.option("--account-id", required=True, help="the platform's account id")
@click.option("--access-token", required=True, help="the account's access token (stored encrypted)")
@click.option("--refresh-token", default=None, help="the refresh token, if the platform issues one")
@click.option("--expires-in", type=click.IntRange(min=1), default=None, help="seconds until the access token expires")
@click.option("--name", default="", help="display name (default: the account id)")
@click.option("--linked-instagram-id", default=None, help="Meta: the Instagram account linked to the Page (fan-out)")
@click.pass_context
def destinations_connect(ctx: click.Context, product_id: str, channel: str, provider: str, account_id: str,
                         access_token: str, refresh_token: str | None, expires_in: int | None, name: str,
                         linked_instagram_id: str | None) -> None:
    """Connect (or reconnect) an account as a destination of a product."""
    from .resources.serializers import destination_document
    from .services import destinations as service

    request = service.Connection(product_id, channel, provider, account_id, access_token, refresh_token,
                                 expires_in, name, linked_instagram_id)
    channels = channels_of(ctx)
    with session(ctx) as db_session:
        row = service.connect(db_session, channels, get_app(ctx).config["MARKAESTRO_SECRET_KEY"], request)
        emit(destination_document(channels, row))


@destinations.command("authorize")
@click.option("--product", "product_id", required=True, help="the product id (prod_…)")
@click.option("--channel", required=True, help="an installed channel offering OAuth connect, e.g. tiktok")
@click.option("--provider", default=None, help="the login provider (default: the channel's first)")
@click.pass_context
def destinations_authorize(ctx: click.Context, product_id: str, channel: str, provider: str | None) -> None:
    """Start an OAuth connect flow: open the printed authorizeUrl in a browser before expiresAt.

    The platform sends the person back to redirectUri (MARKAESTRO_PUBLIC_URL/oauth/callback/CHANNEL),
    which connects the account's destinations to the product.
    """
    from .services import oauth_connect
    from .services.destinations import get_product
    from .timeutil import format_timestamp

    config = get_app(ctx).config
    with session(ctx) as db_session:
        started = oauth_connect.start(
            db_session, channels_of(ctx), workspace_id=get_product(db_session, product_id).workspace_id,
            product_id=product_id, channel=channel, provider=provider, public_url=config["MARKAESTRO_PUBLIC_URL"],
            secret_keys=config["MARKAESTRO_SECRET_KEY"])
    emit({"authorizeUrl": started.authorize_url, "state": started.state,
          "expiresAt": format_timestamp(started.expires_at), "redirectUri": started.redirect_uri})


@destinations.command("list")
@click.option("--product", "product_id", required=True, help="the product id (prod_…)")
@click.pass_context
def destinations_list(ctx: click.Context, product_id: str) -> None:
    """List a product's destinations on installed channels, newest first."""
    from .resources.serializers import destination_document
    from .services import catalog
    from .services.destinations import get_product

    channels = channels_of(ctx)
    data: list[dict[str, Any]] = []
    with session(ctx) as db_session:
        workspace_id = get_product(db_session, product_id).workspace_id
        cursor: str | None = None
        while True:
            rows, cursor = catalog.list_destinations(db_session, channels, workspace_id, product_id, 100, cursor)
            data.extend(destination_document(channels, row) for row in rows)
            if cursor is None:
                break
    emit({"data": data})


# -- plugins ------------------------------------------------------------------


@cli.command("plugins")
@click.pass_context
def plugins_command(ctx: click.Context) -> None:
    """List the installed channel plugins: versions, delivery, rules, settings."""
    emit({"data": documents.plugin_documents(channels_of(ctx))})


# -- processes ----------------------------------------------------------------


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="address to bind (0.0.0.0 for all)")
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True)
@click.option("--workers", type=click.IntRange(min=1), default=2, show_default=True, help="gunicorn worker processes")
@click.pass_context
def serve(ctx: click.Context, host: str, port: int, workers: int) -> None:
    """Run the API with gunicorn (production WSGI server)."""
    get_app(ctx)  # fail here, in one line, on bad settings or plugins
    os.execv(sys.executable, gunicorn_argv(host, port, workers))  # noqa: S606 - fixed argv, no shell


def gunicorn_argv(host: str, port: int, workers: int) -> list[str]:
    """The command line ``serve`` replaces itself with."""
    bind = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return [sys.executable, "-m", "gunicorn", "--bind", bind, "--workers", str(workers),
            "--threads", "4", "--timeout", "300", "--graceful-timeout", "30",
            "--access-logfile", "-", "core:create_app()"]


@cli.command()
@click.option("--burst", is_flag=True, help="work until the queues are empty, then exit")
@click.pass_context
def worker(ctx: click.Context, burst: bool) -> None:
    """Run an RQ worker with the scheduler and sweeper."""
    run_worker = _worker_entry_point()
    run_worker(get_app(ctx).config, burst=burst)


def _worker_entry_point() -> Any:
    if importlib.util.find_spec("core.worker") is None:
        fail("the worker is not available yet in this version (core/worker.py is missing)")
    run_worker = getattr(importlib.import_module("core.worker"), "run_worker", None)
    if run_worker is None:
        fail("the worker is not available yet in this version (core.worker has no run_worker)")
    return run_worker


def worker_available() -> bool:
    """Whether ``markaestro worker`` can run (``markaestro dev`` asks)."""
    try:
        _worker_entry_point()
    except click.ClickException:
        return False
    return True


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True)
def dev(host: str, port: int) -> None:
    """API + worker + platform sandboxes (+ Redis if none is reachable), all in one."""
    from .devserver import DevServer

    DevServer(host=host, port=port).run()


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="markaestro")


if __name__ == "__main__":
    main()
