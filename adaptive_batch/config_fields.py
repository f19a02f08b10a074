"""The machinery of the frozen configs: fields with their help text, and building a config from
plain data (a TOML table, CLI options) with unknown keys and wrong types as errors."""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from dataclasses import field
from typing import Any, Literal

from .errors import ConfigError

# A JSON object held in a frozen config: its (key, value) pairs, sorted. The CLI reads it as JSON text.
JSONObject = tuple[tuple[str, Any], ...]


def doc(default: Any, help: str) -> Any:
    """A dataclass field with its help text attached."""
    return field(default=default, metadata={"help": help})


def help_for(cls: type, name: str) -> str:
    """The declared help text of one config field, for the CLI."""
    return {f.name: f.metadata.get("help", "") for f in dataclasses.fields(cls)}[name]


def require(cond: bool, message: str) -> None:
    if not cond:
        raise ConfigError(message)


class FromDict:
    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = ""):
        """Build from plain data (a TOML table, CLI options); unknown keys are errors."""
        return build(cls, data, where or cls.__name__)


def plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def build(cls: type, data: Any, where: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"{where} must be a table of options, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        guesses = [f"{key} (did you mean {close[0]}?)" if (close := difflib.get_close_matches(key, known, n=1)) else key
                   for key in unknown]
        raise ConfigError(f"unknown key(s) in {where}: {', '.join(guesses)} (known: {', '.join(sorted(known))})")
    kwargs = {name: _coerce(hints[name], value, f"{where}.{name}") for name, value in data.items()}
    return cls(**kwargs)


def _coerce(hint: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if dataclasses.is_dataclass(hint):
        return build(hint, value, where)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _coerce(inner, value, where)
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"{where} must be one of {', '.join(map(str, args))}, got {value!r}")
        return value
    if origin is tuple:
        if isinstance(value, dict):
            return tuple(sorted(value.items()))
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where} must be a list, got {type(value).__name__}")
        return tuple(tuple(v) if isinstance(v, list) else v for v in value)
    if hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise ConfigError(f"{where} must be a number, got {type(value).__name__} {value!r}")
    if hint in (int, str, bool) and not (type(value) is hint):
        raise ConfigError(f"{where} must be {hint.__name__}, got {type(value).__name__} {value!r}")
    return value


class PluginOptions(FromDict):
    """The base of a plugin's own options: a frozen dataclass of ``doc(...)`` fields.

    A backend or verifier declares its class on its ``Plugin``; the CLI makes one flag per field,
    named ``--<plugin>-<field>``, and a config gives them as ``[backend.options]`` or
    ``[verifier.options]``. Validation (``__post_init__``) runs when the plugin is built.
    """


@dataclasses.dataclass(frozen=True)
class NoOptions(PluginOptions):
    """A plugin without options of its own."""


def json_object(value: Any) -> JSONObject:
    """A JSON object's canonical frozen form: given as a dict (a library call) or as pairs."""
    return tuple(sorted(value.items())) if isinstance(value, dict) else tuple(tuple(pair) for pair in value)
