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

from .errors import ConfigError


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
