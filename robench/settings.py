"""``key=value`` settings from the command line, typed by the fields of a frozen dataclass (training recipes,
search configurations): one parser, so ``--set`` means the same everywhere."""

from __future__ import annotations

import dataclasses
import typing
from typing import Any

from robench.errors import RobenchError

_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def parse_settings(pairs: list[str] | tuple[str, ...]) -> dict[str, str]:
    """``["lr=0.05", "decay_epochs=30,60"]`` -> ``{"lr": "0.05", ...}``; a malformed pair is an error."""
    settings: dict[str, str] = {}
    for pair in pairs:
        key, eq, value = pair.partition("=")
        if not eq or not key.strip():
            raise RobenchError(f"malformed --set {pair!r}", hint="write --set key=value, e.g. --set lr=0.05")
        settings[key.strip()] = value.strip()
    return settings


def field_names(cls: type) -> list[str]:
    return [f.name for f in dataclasses.fields(cls)]


def parse_field(cls: type, key: str, text: str, what: str) -> Any:
    """Convert the command-line text of field ``key`` of dataclass ``cls`` to the field's type (``none`` for
    optional fields, comma-separated lists for tuples); ``what`` names the thing in errors ("recipe")."""
    types = typing.get_type_hints(cls)
    if key not in types:
        raise RobenchError(f"unknown {what} field {key!r}", hint=f"{what} fields are: {', '.join(field_names(cls))}")
    kind, raw = types[key], str(text).strip()
    args = typing.get_args(kind)
    if type(None) in args:
        if raw.lower() in ("none", "null", ""):
            return None
        kind = next(a for a in args if a is not type(None))
    try:
        if typing.get_origin(kind) is tuple:
            item = typing.get_args(kind)[0]
            return tuple(item(v) for v in raw.strip("[]() ").replace(",", " ").split())
        if kind is bool:
            if raw.lower() not in _TRUE + _FALSE:
                raise ValueError
            return raw.lower() in _TRUE
        if kind in (int, float):
            return kind(raw)
        return raw
    except ValueError:
        raise RobenchError(
            f"invalid value {text!r} for {what} field {key} ({getattr(kind, '__name__', kind)})",
            hint="booleans are true/false, lists are comma-separated (decay_epochs=99,149)",
        ) from None


def apply_settings(config: Any, settings: dict[str, str], what: str) -> Any:
    """``config`` (a frozen dataclass) with the typed ``settings`` applied."""
    return dataclasses.replace(config, **{k: parse_field(type(config), k, v, what) for k, v in settings.items()})
