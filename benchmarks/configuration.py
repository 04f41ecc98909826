"""Typed config dataclasses from YAML/dicts, with errors that name the file and field.

Every stage is configured by one dataclass whose fields carry ``metadata={"help": ...}``.
``from_mapping`` builds one from a mapping, rejecting unknown fields with a "did you mean"
hint and checking field types, so a typo in a preset never passes silently.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

C = TypeVar("C")
_FLOAT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")


class ConfigError(ValueError):
    """A config value that cannot be used; the message names where it came from and the field."""


class RunDirError(ConfigError):
    """A run directory that cannot be used: it holds a run with another config, or is not an
    evaluated run (the message says what is missing)."""


def field_help(cls: type, name: str) -> str:
    for f in dataclasses.fields(cls):
        if f.name == name:
            return str(f.metadata.get("help", ""))
    raise KeyError(name)


def _check_type(value: Any, annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    if annotation is Any:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_check_type(value, a) for a in typing.get_args(annotation))
    if annotation is type(None):
        return value is None
    if origin in (list, tuple):
        args = typing.get_args(annotation)
        inner = args[0] if args else Any
        return isinstance(value, list | tuple) and all(_check_type(v, inner) for v in value)
    if origin is dict:
        return isinstance(value, dict)
    if annotation is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(annotation, type):
        return isinstance(value, annotation)
    return True


def from_mapping(cls: type[C], data: dict[str, Any] | None, where: str = "config") -> C:
    """Build dataclass ``cls`` from ``data``; unknown fields and wrong types raise ConfigError."""
    data = dict(data or {})
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls) if f.init]
    for key in data:
        if key not in names:
            close = difflib.get_close_matches(key, names, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ConfigError(f"{where}: unknown field {key!r} for {cls.__name__}{hint}")
        if not _check_type(data[key], hints[key]):
            raise ConfigError(
                f"{where}: field {key!r} must be {hints[key]}, got {type(data[key]).__name__} {data[key]!r}"
            )
    try:
        return cls(**data)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {exc}") from exc


def load_yaml(path: str | Path) -> dict[str, Any]:
    """A YAML mapping from ``path``; syntax errors name file and line."""
    import yaml

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}{line}: invalid YAML ({getattr(exc, 'problem', exc)})") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    return data


def merge_mappings(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """``override`` laid over ``base``: nested mappings merge key by key, anything else replaces."""
    out = dict(base)
    for key, value in override.items():
        nested = isinstance(value, dict) and isinstance(out.get(key), dict)
        out[key] = merge_mappings(out[key], value) if nested else value
    return out


def apply_overrides(config: dict[str, Any], overrides: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """``section.field=value`` overrides (values parsed as YAML) applied to a copy of a nested mapping."""
    import yaml

    config = merge_mappings(config, {})
    for override in overrides:
        if "=" not in override:
            raise ConfigError(f"--set {override!r}: expected KEY=VALUE (e.g. scorer.mode=pointwise)")
        key, value = override.split("=", 1)
        target = config
        parts = key.split(".")
        for part in parts[:-1]:
            target = target.setdefault(part, {})
            if not isinstance(target, dict):
                raise ConfigError(f"--set {override!r}: {part!r} is not a section")
        parsed = yaml.safe_load(value)
        if isinstance(parsed, str) and _FLOAT.fullmatch(parsed.strip()):
            parsed = float(parsed)  # YAML 1.1 reads "3e-3" as a string
        target[parts[-1]] = parsed
    return config


def preset_path(directory: Path, name: str, what: str = "preset") -> Path:
    """``directory/<name>.yaml``; an unknown name lists the known ones with a did-you-mean."""
    path = directory / f"{name}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in directory.glob("*.yaml"))
        close = difflib.get_close_matches(name, known, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ConfigError(f"unknown {what} {name!r}{hint} (known: {', '.join(known)})")
    return path
