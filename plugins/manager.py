"""Build the plugin manager and dispatch channel operations to their owner.

:class:`Channels` is the only code that calls ``pm.hook``. Every channel
operation goes to the plugin that registered the channel (pluggy's
``subset_hook_caller``), so a plugin that answers for every channel cannot
take over another plugin's channel.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from importlib import metadata
from itertools import chain
from typing import Any

import pluggy

from . import PROJECT_NAME, hookspecs, limits
from .types import (
    Capability,
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


class PluginSetupError(Exception):
    """The installed plugins cannot be used together; startup stops."""


class ChannelConflictError(PluginSetupError):
    """Two plugins declare the same channel name."""


class PluginContractError(Exception):
    """A plugin broke the hook contract (returned nothing, or the wrong type)."""


class UnknownChannelError(KeyError):
    """No installed plugin declares this channel."""


def create_plugin_manager(
    *,
    load_entrypoints: bool = True,
    blocked: Iterable[str] = (),
    extra: Iterable[object] = (),
) -> pluggy.PluginManager:
    """Create the manager: hookspecs, core plugins, installed and extra plugins.

    A misspelt hook implementation fails here (``check_pending``), not
    silently later.

    :param load_entrypoints: load plugins from the ``markaestro`` entry-point
        group; core tests turn this off and pass their plugins in ``extra``.
    :param blocked: entry-point names not to load (e.g. ``["tiktok"]``).
    :param extra: plugin objects or modules to register as well.
    """
    pm = pluggy.PluginManager(PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    pm.register(limits, name="markaestro.limits")
    for name in blocked:
        pm.set_blocked(name)
    if load_entrypoints:
        pm.load_setuptools_entrypoints(PROJECT_NAME)
    for plugin in extra:
        if not pm.is_registered(plugin):
            pm.register(plugin)
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise PluginSetupError(str(exc)) from exc
    return pm


class Channels:
    """Typed facade over the hooks, dispatching to each channel's owner."""

    def __init__(
        self, pm: pluggy.PluginManager, settings: Mapping[str, Mapping[str, str]] | None = None
    ) -> None:
        self._pm = pm
        self._settings = settings or {}
        self._channel_plugins = [p for p in pm.get_plugins() if hasattr(p, "register_channels")]
        self._owner: dict[str, object] = {}
        self.specs: dict[str, ChannelSpec] = {}
        for plugin in self._channel_plugins:
            for spec in chain.from_iterable(self._call_on(plugin, "register_channels")()):
                self._add(plugin, spec)

    def _add(self, plugin: object, spec: ChannelSpec) -> None:
        if spec.name in self.specs:
            first = self._pm.get_name(self._owner[spec.name])
            raise ChannelConflictError(
                f"channel {spec.name!r} is declared by both {first} and {self._pm.get_name(plugin)}"
            )
        self.specs[spec.name] = spec
        self._owner[spec.name] = plugin

    def _call_on(self, plugin: object, hook_name: str) -> Any:
        """A caller for ``hook_name`` that skips every other channel plugin."""
        others = [p for p in self._channel_plugins if p is not plugin]
        return self._pm.subset_hook_caller(hook_name, remove_plugins=others)

    def spec(self, channel: str) -> ChannelSpec:
        """The spec of an installed channel; :class:`UnknownChannelError` otherwise."""
        try:
            return self.specs[channel]
        except KeyError:
            raise UnknownChannelError(channel) from None

    def settings_for(self, channel: str) -> Mapping[str, str]:
        return self._settings.get(channel, {})

    def owner_name(self, channel: str) -> str:
        """The registered name of the plugin that declares ``channel``."""
        return self._pm.get_name(self._owner[self.spec(channel).name]) or ""

    def owner_version(self, channel: str) -> str | None:
        """The version of the distribution that ships ``channel``'s plugin."""
        for plugin, dist in self._pm.list_plugin_distinfo():
            if plugin is self._owner.get(channel):
                return str(dist.version)
        module = getattr(self._owner.get(channel), "__name__", "").split(".")[0]
        try:
            return metadata.version(module) if module else None
        except metadata.PackageNotFoundError:
            return None

    def has(self, channel: str, capability: Capability) -> bool:
        return capability in self.spec(channel).capabilities

    def _operation(self, channel: str, hook_name: str, **kwargs: Any) -> Any:
        spec = self.spec(channel)
        caller = self._call_on(self._owner[spec.name], hook_name)
        return caller(channel=spec, **kwargs)

    def _required(self, channel: str, hook_name: str, **kwargs: Any) -> Any:
        result = self._operation(channel, hook_name, **kwargs)
        if result is None:
            raise PluginContractError(f"{channel}: {hook_name} returned None")
        return result

    def validate_post(
        self, channel: str, *, destination: Destination | None, post: Post
    ) -> list[Violation]:
        """Every rule ``post`` breaks: the spec's limits and the channel's own rules."""
        results = self._operation(channel, "validate_post", destination=destination, post=post)
        return list(chain.from_iterable(results))

    def publish_step(
        self, channel: str, *, destination: Destination, post: Post,
        handle: Mapping[str, object], credentials: Credentials, pacer: Pacer,
    ) -> PublishOutcome:
        return self._checked_outcome(channel, "publish_step", destination=destination, post=post,
                                     handle=handle, credentials=credentials, pacer=pacer)

    def poll_publish(
        self, channel: str, *, destination: Destination, post: Post,
        handle: Mapping[str, object], credentials: Credentials, pacer: Pacer,
    ) -> PublishOutcome:
        return self._checked_outcome(channel, "poll_publish", destination=destination, post=post,
                                     handle=handle, credentials=credentials, pacer=pacer)

    def reconcile_publish(
        self, channel: str, *, destination: Destination, post: Post,
        handle: Mapping[str, object], credentials: Credentials, pacer: Pacer,
    ) -> PublishOutcome | None:
        """What the platform shows of an interrupted step; ``None``: it cannot tell."""
        result = self._operation(channel, "reconcile_publish", destination=destination, post=post,
                                 handle=handle, credentials=credentials, pacer=pacer,
                                 settings=self.settings_for(channel))
        if result is not None and not isinstance(result, PublishOutcome):
            raise PluginContractError(f"{channel}: reconcile_publish returned {type(result).__name__}")
        return result

    def _checked_outcome(self, channel: str, hook_name: str, **kwargs: Any) -> PublishOutcome:
        result = self._required(channel, hook_name, settings=self.settings_for(channel), **kwargs)
        if not isinstance(result, PublishOutcome):
            raise PluginContractError(f"{channel}: {hook_name} returned {type(result).__name__}")
        return result

    def list_destinations(
        self, channel: str, *, provider: str, credentials: Credentials
    ) -> Sequence[ConnectedDestination]:
        return list(self._required(channel, "list_destinations", provider=provider,
                                   credentials=credentials, settings=self.settings_for(channel)))

    def refresh_credentials(
        self, channel: str, *, destination: Destination, credentials: Credentials
    ) -> Credentials:
        return self._required(channel, "refresh_credentials", destination=destination,  # type: ignore[no-any-return]
                              credentials=credentials, settings=self.settings_for(channel))

    def oauth_authorize_url(self, channel: str, *, provider: str, redirect_uri: str, state: str) -> str:
        return str(self._required(channel, "oauth_authorize_url", provider=provider,
                                  redirect_uri=redirect_uri, state=state,
                                  settings=self.settings_for(channel)))

    def oauth_exchange_code(
        self, channel: str, *, provider: str, code: str, redirect_uri: str
    ) -> Credentials:
        return self._required(channel, "oauth_exchange_code", provider=provider, code=code,  # type: ignore[no-any-return]
                              redirect_uri=redirect_uri, settings=self.settings_for(channel))

    def publish_finished(
        self, channel: str, *, destination: Destination, post: Post, outcome: PublishOutcome
    ) -> None:
        """Tell every plugin a target finished; their errors are the caller's to log."""
        self._pm.hook.publish_finished(
            channel=self.spec(channel), destination=destination, post=post, outcome=outcome
        )

    def sandboxes(self) -> list[Sandbox]:
        return list(chain.from_iterable(self._pm.hook.register_sandboxes()))
