"""The plugin manager: discovery switches, conflicts, misspelt hooks, owner dispatch."""

from __future__ import annotations

import inspect
import types

import pytest

from plugins import hookimpl, hookspecs
from plugins.manager import (
    ChannelConflictError,
    Channels,
    PluginContractError,
    PluginSetupError,
    UnknownChannelError,
    create_plugin_manager,
)
from plugins.testing import LocalPacer, fake_channel, make_destination, make_post
from plugins.types import Credentials, PublishOutcome, PublishState


def plugin_module(name: str, **hooks: object) -> types.ModuleType:
    module = types.ModuleType(name)
    for hook_name, function in hooks.items():
        setattr(module, hook_name, function)
    return module


def declaring(name: str, spec_name: str = "fake") -> types.ModuleType:
    spec = fake_channel.SPEC.__class__(**{**fake_channel.SPEC.__dict__, "name": spec_name})

    @hookimpl
    def register_channels() -> list[object]:
        return [spec]

    return plugin_module(name, register_channels=register_channels)


def test_two_plugins_claiming_one_channel_stop_startup_naming_both() -> None:
    pm = create_plugin_manager(load_entrypoints=False, extra=[declaring("first_plugin"), declaring("second_plugin")])
    with pytest.raises(ChannelConflictError) as excinfo:
        Channels(pm)
    message = str(excinfo.value)
    assert "'fake'" in message
    assert "first_plugin" in message
    assert "second_plugin" in message


def test_misspelt_hook_fails_at_startup() -> None:
    @hookimpl
    def publsh_step() -> None:
        return None

    with pytest.raises(PluginSetupError, match="publsh_step"):
        create_plugin_manager(load_entrypoints=False, extra=[plugin_module("typo", publsh_step=publsh_step)])


def test_operations_go_only_to_the_owning_plugin() -> None:
    calls: list[str] = []

    def answering(name: str):  # a plugin that (wrongly) answers for every channel
        @hookimpl
        def publish_step() -> PublishOutcome:
            calls.append(name)
            return PublishOutcome(state=PublishState.PUBLISHED, external_id=name)

        module = declaring(name, spec_name=name)
        module.publish_step = publish_step  # type: ignore[attr-defined]
        return module

    channels = Channels(create_plugin_manager(load_entrypoints=False, extra=[answering("alpha"), answering("beta")]))
    outcome = channels.publish_step("alpha", destination=make_destination("alpha"), post=make_post(), handle={},
                                    credentials=Credentials("t"), pacer=LocalPacer())
    assert outcome.external_id == "alpha"
    assert calls == ["alpha"]


def test_required_hook_returning_nothing_is_a_contract_error() -> None:
    channels = Channels(create_plugin_manager(load_entrypoints=False, extra=[declaring("silent")]))
    with pytest.raises(PluginContractError, match="publish_step returned None"):
        channels.publish_step("fake", destination=make_destination("fake"), post=make_post(), handle={},
                              credentials=Credentials("t"), pacer=LocalPacer())


def test_unknown_channel_is_reported_by_name() -> None:
    channels = Channels(create_plugin_manager(load_entrypoints=False))
    with pytest.raises(UnknownChannelError):
        channels.spec("nope")


def test_blocked_entry_point_names_are_not_loaded() -> None:
    pm = create_plugin_manager(load_entrypoints=True, blocked=["fake_blocked"])
    assert pm.is_blocked("fake_blocked")


def test_core_limits_apply_alongside_the_channels_own_rules() -> None:
    channels = Channels(create_plugin_manager(load_entrypoints=False, extra=[fake_channel]))
    violations = channels.validate_post("fake", destination=None, post=make_post(caption="forbidden " + "x" * 300))
    assert {v.rule for v in violations} == {"forbidden_word", "caption_max_length"}


@pytest.mark.parametrize("name", [n for n, f in vars(hookspecs).items()
                                  if inspect.isfunction(f) and hasattr(f, "markaestro_spec")])
def test_every_hookspec_documents_each_argument(name: str) -> None:
    function = getattr(hookspecs, name)
    doc = inspect.getdoc(function) or ""
    assert doc, f"{name} has no docstring"
    for argument in inspect.signature(function).parameters:
        assert f":param {argument}:" in doc, f"{name} does not document {argument}"
