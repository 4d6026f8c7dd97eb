"""Hook specifications for channel plugins.

A channel plugin is a module registered under the ``markaestro`` entry-point
group. It marks its implementations with :data:`plugins.hookimpl`, implements
only the hooks it needs and accepts only the arguments it uses: pluggy passes
arguments by name, so a spec can gain an argument later without breaking
existing plugins.

There are three kinds of hook:

- declarations: :func:`register_channels` and :func:`register_sandboxes` are
  called on every plugin and the results are collected;
- channel operations: every other hook except :func:`publish_finished` is
  called only on the plugin that registered ``channel.name`` (and on core
  plugins, for :func:`validate_post`), so an implementation needs no "is
  this my channel?" check unless its plugin registers several channels;
- events: :func:`publish_finished` is called on every plugin and return
  values are ignored.

Hooks run in RQ workers and request handlers. They must not use the
database, Flask globals or environment variables: everything they need is
passed in, and everything they produce is returned or raised as a
:class:`~plugins.errors.ChannelError`.

Publishing is a step function driven by the core. The core commits its
intent before calling :func:`publish_step`, and the returned ``handle``
right after it, so each call must make **at most one creating call** on the
platform (one that makes something exist: a container, an upload session, a
post). Reading state, polling and re-sending bytes to an upload URL the
platform handed back are not creating calls.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

from . import PROJECT_NAME

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from .types import (
        ChannelSpec,
        ConnectedDestination,
        Credentials,
        Destination,
        Pacer,
        Post,
        PublishOutcome,
        Sandbox,
        Violation,
    )

hookspec = pluggy.HookspecMarker(PROJECT_NAME)


# -------------------------------------------------------------------------
# Declarations (called on every plugin; results are collected)
# -------------------------------------------------------------------------


@hookspec
def register_channels() -> Sequence[ChannelSpec]:  # type: ignore[empty-body]
    """Declare the channels this plugin publishes to.

    Called once when the plugin manager is built. Two plugins declaring the
    same channel name stop startup with an error naming both.

    :return: the channels' specs; an empty list for a plugin with none.
    """


@hookspec
def register_sandboxes() -> Sequence[Sandbox]:  # type: ignore[empty-body]
    """Offer emulators of the platforms this plugin talks to.

    ``markaestro dev`` serves each one and points the plugin's base URL
    settings (``Sandbox.settings_env``) at it, so a newcomer can publish end
    to end without platform accounts.

    :return: the sandboxes; an empty list for a plugin with none.
    """


# -------------------------------------------------------------------------
# Validation (called on the owning plugin and on core plugins; collected)
# -------------------------------------------------------------------------


@hookspec
def validate_post(  # type: ignore[empty-body]
    channel: ChannelSpec, destination: Destination | None, post: Post
) -> Sequence[Violation]:
    """Check a post against the rules its channel's spec cannot express.

    Called when a post is created or edited and again before it is
    published. The core's limits plugin already enforces everything in
    ``channel.rules`` and ``channel.options_schema``; implement this only for
    what those cannot say (hashtag syntax, a rule depending on options, ...).

    :param channel: the spec of the post's channel.
    :param destination: the target, or ``None`` when validating a draft
        before a destination is known.
    :param post: the post, with every media item's probed metadata.
    :return: the violations found; an empty list when the post is fine.
    """


# -------------------------------------------------------------------------
# Publishing (called only on the plugin that registered ``channel``)
# -------------------------------------------------------------------------


@hookspec(firstresult=True)
def publish_step(  # type: ignore[empty-body]
    channel: ChannelSpec,
    destination: Destination,
    post: Post,
    handle: Mapping[str, object],
    credentials: Credentials,
    settings: Mapping[str, str],
    pacer: Pacer,
) -> PublishOutcome:
    """Take the next step of publishing ``post`` to ``destination``.

    Called first with an empty ``handle``, then again with the handle of
    every ``CONTINUE`` outcome, and after ``poll_publish`` returns
    ``CONTINUE``. Make at most one creating call, then return:

    - ``CONTINUE`` with the new ``handle`` when another step follows (set
      ``retry_safe`` if that step creates nothing);
    - ``WAITING`` when the platform must process first (the core calls
      :func:`poll_publish` after ``poll_after_s``, never sleeping a worker);
    - ``PUBLISHED`` or ``HANDED_OFF`` with ``external_id`` when done;
    - ``FAILED`` when the platform refused the content for good.

    Raise a :class:`~plugins.errors.ChannelError` subclass on errors; raise
    :class:`~plugins.errors.OutcomeUnknown` when the creating call may have
    gone through (a timeout after the request was sent).

    Stops at first non-None result, see :ref:`firstresult`.

    :param channel: the spec of the channel being published to.
    :param destination: the target.
    :param post: the content; media items stream through ``open()``.
    :param handle: the stored handle of the previous outcome, or ``{}``.
    :param credentials: the destination's current tokens (refreshed first
        when they were near expiry).
    :param settings: this channel's settings, keyed by ``SettingSpec.key``.
    :param pacer: shared call budgets for the platform's rate limits.
    """


@hookspec(firstresult=True)
def poll_publish(  # type: ignore[empty-body]
    channel: ChannelSpec,
    destination: Destination,
    post: Post,
    handle: Mapping[str, object],
    credentials: Credentials,
    settings: Mapping[str, str],
    pacer: Pacer,
) -> PublishOutcome:
    """Read the platform's state of a ``WAITING`` or ``HANDED_OFF`` publish.

    Never makes a creating call, so the core may repeat it freely. Return
    ``WAITING`` while the platform works, ``CONTINUE`` when the next
    creating step (``media_publish``, say) is due, ``HANDED_OFF``,
    ``PUBLISHED`` or ``FAILED``. If the platform shows the post already
    live, return ``PUBLISHED``: never let a step be repeated. For a
    ``HANDED_OFF`` target being watched, return ``HANDED_OFF`` again with a
    ``poll_after_s`` to keep watching, or ``PUBLISHED`` once the creator
    published.

    Stops at first non-None result, see :ref:`firstresult`.

    :param channel: the spec of the channel.
    :param destination: the target.
    :param post: the content being published.
    :param handle: the stored handle of the latest outcome.
    :param credentials: the destination's current tokens.
    :param settings: this channel's settings.
    :param pacer: shared call budgets for the platform's rate limits.
    """


@hookspec(firstresult=True)
def reconcile_publish(  # type: ignore[empty-body]
    channel: ChannelSpec,
    destination: Destination,
    post: Post,
    handle: Mapping[str, object],
    credentials: Credentials,
    settings: Mapping[str, str],
    pacer: Pacer,
) -> PublishOutcome | None:
    """Find out what a ``publish_step`` interrupted mid-call achieved.

    Called when a worker died during :func:`publish_step` or the step
    raised :class:`~plugins.errors.OutcomeUnknown`. ``handle`` is the one
    the interrupted step was called with. Return ``PUBLISHED`` (or
    ``WAITING``, ``HANDED_OFF``) with what the platform shows, ``CONTINUE``
    with the same ``handle`` if the platform shows nothing was created (so
    the step may run again), or ``None`` when the channel cannot tell: the
    target is then left ``needs_reconcile`` for a person. Never publish
    from this hook.

    Stops at first non-None result, see :ref:`firstresult`.

    :param channel: the spec of the channel.
    :param destination: the target.
    :param post: the content being published.
    :param handle: the handle the interrupted step was called with.
    :param credentials: the destination's current tokens.
    :param settings: this channel's settings.
    :param pacer: shared call budgets for the platform's rate limits.
    """


# -------------------------------------------------------------------------
# Accounts (called only on the plugin that registered ``channel``)
# -------------------------------------------------------------------------


@hookspec(firstresult=True)
def list_destinations(  # type: ignore[empty-body]
    channel: ChannelSpec,
    provider: str,
    credentials: Credentials,
    settings: Mapping[str, str],
) -> Sequence[ConnectedDestination]:
    """List the places a connected account can publish to.

    For example the Facebook Pages (each with its Page token and linked
    Instagram account), the LinkedIn organizations or the TikTok profile the
    token grants. Return an empty list when there are none.

    Stops at first non-None result, see :ref:`firstresult`.

    :param channel: the spec of the channel.
    :param provider: the login provider the credentials came through.
    :param credentials: the account's tokens.
    :param settings: this channel's settings.
    """


@hookspec(firstresult=True)
def refresh_credentials(  # type: ignore[empty-body]
    channel: ChannelSpec,
    destination: Destination,
    credentials: Credentials,
    settings: Mapping[str, str],
) -> Credentials:
    """Exchange ``credentials`` for fresh ones before they expire.

    Called only for channels declaring ``Capability.TOKEN_REFRESH``, when the
    access token expires within a few minutes or was rejected as expired.
    Return the new credentials (with the rotated refresh token, if the
    platform rotates it); the core stores them and discards the old ones.
    Raise :class:`~plugins.errors.ReauthorizationRequired` when a person must
    reconnect the account.

    Stops at first non-None result, see :ref:`firstresult`.

    :param channel: the spec of the channel.
    :param destination: the destination whose tokens these are.
    :param credentials: the current tokens.
    :param settings: this channel's settings (client id and secret).
    """


@hookspec(firstresult=True)
def oauth_authorize_url(  # type: ignore[empty-body]
    channel: ChannelSpec,
    provider: str,
    redirect_uri: str,
    state: str,
    settings: Mapping[str, str],
) -> str:
    """Build the URL that sends a person to the platform's consent screen.

    Called only for channels declaring ``Capability.OAUTH_CONNECT``.

    Stops at first non-None result, see :ref:`firstresult`.

    :param channel: the spec of the channel.
    :param provider: the login provider to authorize with.
    :param redirect_uri: where the platform sends the person back.
    :param state: the anti-forgery value to pass through unchanged.
    :param settings: this channel's settings (client id, scopes).
    """


@hookspec(firstresult=True)
def oauth_exchange_code(  # type: ignore[empty-body]
    channel: ChannelSpec,
    provider: str,
    code: str,
    redirect_uri: str,
    settings: Mapping[str, str],
) -> Credentials:
    """Exchange the authorization ``code`` from the callback for credentials.

    The core then calls :func:`list_destinations` with them.

    Stops at first non-None result, see :ref:`firstresult`.

    :param channel: the spec of the channel.
    :param provider: the login provider the code came from.
    :param code: the code the platform sent to the callback.
    :param redirect_uri: the redirect URI used in the authorize URL.
    :param settings: this channel's settings (client id and secret).
    """


# -------------------------------------------------------------------------
# Events (called on every plugin; return values are ignored)
# -------------------------------------------------------------------------


@hookspec
def publish_finished(
    channel: ChannelSpec, destination: Destination, post: Post, outcome: PublishOutcome
) -> None:
    """Called once a target reached a terminal state (published, handed off, failed).

    For notification and analytics plugins. An exception raised here is
    logged and does not change the target's state.

    :param channel: the spec of the channel.
    :param destination: the target.
    :param post: the content that was published.
    :param outcome: the final outcome.
    """
