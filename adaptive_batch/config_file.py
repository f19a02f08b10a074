"""Run configs as TOML files: every CLI option has a key, in the same sections as ``RunConfig``.

    [data]
    path = "data/nightly.jsonl"
    [schedule]
    budget = 8
    [verifier]
    name = "consistency"

Keys are the config field names (``adaptive-batch config --show`` prints them all); unknown keys
are errors. Command-line flags override the file. Relative paths are taken from the current
directory, as on the command line.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .config import PLUGIN_SECTIONS

from .errors import ConfigError, UserError


def load_toml(path: str | Path) -> dict[str, Any]:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path}: {exc}") from None


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """``override`` on top of ``base``, table by table."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def dump_toml(config: dict[str, Any]) -> str:
    """A resolved config as TOML (None values are left out: they mean "the default")."""
    top = [f"{key} = {_value(value)}" for key, value in config.items()
           if not isinstance(value, dict) and value is not None]
    lines = top + [""] if top else []
    for section, table in config.items():
        if not isinstance(table, dict):
            continue
        lines.append(f"[{section}]")
        for key, value in table.items():
            if value is None:
                continue
            if key == "options" and isinstance(value, list):
                value = {k: v for k, v in value}
            lines.append(f"{key} = {_value(value)}")
        lines.append("")
    return "\n".join(lines)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{json.dumps(k)} = {_value(v)}" for k, v in value.items()) + " }"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    raise ConfigError(f"cannot write {value!r} as TOML")


# Keys that configs saved before the plugins had options of their own (older runs' run.json) hold in
# their sections: key -> (the plugins that took it, its default then).
_MOVED_TO_PLUGINS: dict[str, dict[str, tuple[tuple[str, ...], Any]]] = {
    "backend": {"n_ctx": (("llamacpp", "llamacpp-batched"), 2048), "n_threads": (("llamacpp", "llamacpp-batched"), None),
                "base_urls": (("openai",), []), "api_key_env": (("openai",), "OPENAI_API_KEY"),
                "concurrency": (("openai",), 8), "request_timeout": (("openai",), 120.0), "max_retries": (("openai",), 5)},
    "verifier": {"tolerance": (("reference",), 1e-6), "min_votes": (("consistency",), 3),
                 "min_share": (("consistency",), 0.5), "stopping": (("consistency",), "threshold"),
                 "confidence": (("consistency",), 0.95), "max_votes": (("consistency",), 40),
                 "command": (("external",), None), "memory_mb": (("code",), 1024)},
}


def upgrade_saved_config(config: dict[str, Any]) -> dict[str, Any]:
    """A saved config (``run.json``) in today's layout: settings an older version kept in the backend and
    verifier sections move into the options of the plugin that took them (those at their old default,
    or for a plugin not selected, had no effect and go); vLLM's engine arguments move under engine_args;
    the escalation cost weight's old default, where escalation was off, becomes today's (None); a run saved
    before demonstrations could be retired ran with ``retire_after`` 0, one saved before their order
    was an option with ``demo_order`` similarity, and one saved before base-prompt turns with ``base_every`` 0."""
    config = {**config}
    for section in PLUGIN_SECTIONS:  # kept as (key, value) pairs before
        if isinstance(config.get(section), dict) and isinstance(config[section].get("options"), list):
            config[section] = {**config[section], "options": dict(config[section]["options"])}
    for section, moved in _MOVED_TO_PLUGINS.items():
        if not isinstance(config.get(section), dict) or not set(moved) & set(config[section]):
            continue
        table = {**config[section]}
        name = table.get("name", "llamacpp" if section == "backend" else "reference")
        options = dict(table.get("options") or {})
        if section == "backend" and name == "vllm" and options and "engine_args" not in options:
            options = {"engine_args": options}
        for key, (plugins, old_default) in moved.items():
            if key in table:
                value = table.pop(key)
                if name in plugins and value != old_default:
                    options.setdefault(key, value)
        table["options"] = options
        config[section] = table
    escalation = config.get("escalation")
    if isinstance(escalation, dict) and escalation.get("cost_weight") == 4.0 and not any(
            escalation.get(key) is not None for key in ("backend", "model", "temperature")):
        # The weight's old default (4), saved by runs without escalation, where it had no effect.
        config["escalation"] = {**escalation, "cost_weight": None}
    retrieval = config.get("retrieval")
    if isinstance(retrieval, dict) and "retire_after" not in retrieval:
        # Saved before retirement existed: such a run never retired a demonstration (today's default is 4).
        config["retrieval"] = retrieval = {**retrieval, "retire_after": 0}
    if isinstance(retrieval, dict) and "demo_order" not in retrieval:
        # Saved before the order was an option: such a run showed the nearest last (today's default is resolved).
        config["retrieval"] = retrieval = {**retrieval, "demo_order": "similarity"}
    if isinstance(retrieval, dict) and "base_every" not in retrieval:
        # Saved before base-prompt turns existed: such a run had none (today's default for adaptive is 5).
        config["retrieval"] = {**retrieval, "base_every": 0}
    return complete_plugin_options(config, saved=True)


# Plugin option defaults that changed, with the value a run saved before the change ran with, where
# it had an effect: (section, plugin) -> the saved options -> the former defaults.
_FORMER_DEFAULTS = {
    ("verifier", "consistency"): lambda given: {"confidence": 0.95} if given.get("stopping") == "beta" else {},
}
# Not here: llamacpp's prefix_store_mb (0 before it existed). Saved prefixes change no sample, only how many
# prompt tokens the engine reuses, which every sample records as measured; an older run resumes with them.


def complete_plugin_options(config: dict[str, Any], saved: bool) -> dict[str, Any]:
    """``config`` (a dict) with each plugin's options table complete: every field, at its default where
    not given, so a run's saved config says what its plugins ran with and a changed default shows as a
    difference on resume instead of silently changing a resumed run. A ``saved`` config from before a
    default changed gets the former default, where it had an effect. A plugin that is not installed
    keeps its table as given."""
    from .registry import backends, verifiers

    config = {**config}
    backend, escalation = config.get("backend") or {}, config.get("escalation") or {}
    named = {"backend": (backends, backend.get("name", "llamacpp")),
             "verifier": (verifiers, (config.get("verifier") or {}).get("name", "reference"))}
    if escalation.get("backend") not in (None, backend.get("name", "llamacpp")):  # its own plugin, own options
        named["escalation"] = (backends, escalation["backend"])
    for section, (registry, name) in named.items():
        table = config.get(section)
        if not isinstance(table, dict):
            continue
        given = dict(table.get("options") or {})
        if saved:
            given = {**_FORMER_DEFAULTS.get((section, name), lambda _: {})(given), **given}
        try:
            options = registry.build_options(name, given)
        except UserError:
            continue
        config[section] = {**table, "options": options_dict(options)}
    return config


def options_dict(options: Any) -> dict[str, Any]:
    """A plugin's options as plain data: JSON objects as dicts, lists as lists."""
    import dataclasses
    import typing

    from .config_fields import JSONObject, plain

    hints = typing.get_type_hints(type(options))
    return {f.name: dict(getattr(options, f.name)) if hints[f.name] == JSONObject else plain(getattr(options, f.name))
            for f in dataclasses.fields(options)}
