"""Flags for the plugins' own options, generated from each plugin's declared options class.

A backend or verifier declares a frozen options class on its ``Plugin``; each field becomes
``--<plugin>-<field>`` (``--llamacpp-n-ctx``, ``--openai-base-urls``, ``--consistency-min-votes``),
in a ``--help`` panel of its own. Only the selected plugins' flags are shown: those named on the
command line (``--backend``, ``--escalate-backend``, ``--verifier``) or, when none is, the
defaults. The built-in plugins' other flags are still accepted, so giving one says plainly that
it belongs to a plugin this run does not use. A third-party plugin is imported only when it is
named on the command line.
"""

from __future__ import annotations

import dataclasses
import functools
import typing
from typing import Any, Iterable

from ..config import BackendConfig, VerifierConfig
from ..config_fields import JSONObject
from ..errors import ConfigError, PluginNotFoundError
from ..registry import Registry, backends, verifiers

# kind -> (its registry, its default plugin)
KINDS: dict[str, tuple[Registry, str]] = {"backend": (backends, BackendConfig().name),
                                          "verifier": (verifiers, VerifierConfig().name)}
SELECTING_FLAGS = {"--backend": "backend", "--escalate-backend": "backend", "--verifier": "verifier"}


@dataclasses.dataclass(frozen=True)
class PluginOptionSpec:
    kind: str  # backend or verifier
    plugin: str
    field: str
    param: str
    flag: str
    help: str
    hint: Any
    default: Any

    @property
    def panel(self) -> str:
        return f"Options of the {self.plugin} {self.kind}"

    @property
    def is_json(self) -> bool:
        return self.hint == JSONObject


def selected_plugins(argv: Iterable[str]) -> dict[str, set[str]]:
    """The plugins an argument list names, by kind; the kind's default where it names none."""
    args = list(argv)
    named: dict[str, set[str]] = {kind: set() for kind in KINDS}
    for i, arg in enumerate(args):
        flag, eq, value = arg.partition("=")
        if flag in SELECTING_FLAGS:
            if not eq:
                value = args[i + 1] if i + 1 < len(args) else ""
            if value:
                named[SELECTING_FLAGS[flag]].add(value)
    return {kind: names or {KINDS[kind][1]} for kind, names in named.items()}


def _builtin_names(registry: Registry) -> list[str]:
    return sorted(name for name, target in registry.entry_points().items() if target.startswith("adaptive_batch."))


@functools.lru_cache(maxsize=None)
def _names(kind: str) -> tuple[frozenset[str], frozenset[str]]:
    """(built-in, all installed) plugin names of a kind, read from the entry points once per process."""
    registry = KINDS[kind][0]
    return frozenset(_builtin_names(registry)), frozenset(registry.names())


@functools.lru_cache(maxsize=None)
def plugin_specs(kind: str, name: str) -> tuple[PluginOptionSpec, ...]:
    """One spec per field of plugin ``name``'s options class (imports that plugin's module, once)."""
    registry = KINDS[kind][0]
    options = registry.plugin(name).options
    hints = typing.get_type_hints(options)
    return tuple(PluginOptionSpec(kind, name, f.name, f"{name}_{f.name}".replace("-", "_"),
                                  f"--{name}-{f.name.replace('_', '-')}", f.metadata.get("help", ""), hints[f.name],
                                  f.default)
                 for f in dataclasses.fields(options))


def all_specs(selected: dict[str, set[str]]) -> list[tuple[PluginOptionSpec, bool]]:
    """(spec, shown) for every built-in plugin and every selected one."""
    out = []
    for kind in KINDS:
        builtin, known = _names(kind)
        for name in sorted(builtin | (selected[kind] & known)):
            try:
                specs = plugin_specs(kind, name)
            except PluginNotFoundError:
                continue
            out += [(spec, name in selected[kind]) for spec in specs]
    return out


def place(merged: dict[str, Any], values: dict[str, Any], specs: Iterable[PluginOptionSpec]) -> None:
    """Put the plugin options the user gave into the config data, under the plugin that takes them."""
    for spec in specs:
        value = values.get(spec.param)
        if value is None or (isinstance(value, list) and not value):
            continue
        section = _section_of(merged, spec.kind, spec.plugin)
        if section is None:
            current = merged.get(spec.kind, {}).get("name", KINDS[spec.kind][1])
            raise ConfigError(f"{spec.flag} is an option of the {spec.plugin} {spec.kind}, but this run's {spec.kind} "
                              f"is {current} (add --{spec.kind} {spec.plugin})")
        merged.setdefault(section, {}).setdefault("options", {})[spec.field] = value


def _section_of(merged: dict[str, Any], kind: str, plugin: str) -> str | None:
    """The config section whose plugin is ``plugin``: the main one, else escalation's; None if neither."""
    if merged.get(kind, {}).get("name", KINDS[kind][1]) == plugin:
        return kind
    if kind == "backend" and merged.get("escalation", {}).get("backend") == plugin:
        return "escalation"
    return None
