"""One generic registry for everything srcal looks up by name.

Benchmarks, answer parsers, scoring rules, judges and (later) models all live in a
:class:`Registry`. Entries may be *lazy*: a ``"package.module:attr"`` string that is
imported on first :meth:`Registry.get`, so listing names costs no import.

    >>> from benchmarks.registry import Registry
    >>> COLOURS = Registry[str]("colour")
    >>> COLOURS.register("red", "#f00")
    >>> COLOURS.get("red")
    '#f00'
    >>> COLOURS.get("rde")
    Traceback (most recent call last):
    ...
    benchmarks.registry.UnknownNameError: unknown colour 'rde'; did you mean 'red'? (known: red)

Re-registering a name with a *different* target is an error; registering the same
target twice is a no-op (module reloads stay harmless).
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")

__all__ = ["Registry", "UnknownNameError", "resolve_target"]


class UnknownNameError(KeyError):
    """An unknown registry name; the message carries close-match suggestions."""

    def __str__(self) -> str:  # KeyError quotes its message; we do not want that
        return str(self.args[0])


def resolve_target(target: str) -> object:
    """Import ``"package.module:attr"`` (attr may be dotted) and return the object."""
    if ":" not in target:
        raise ValueError(f"lazy target {target!r} must look like 'package.module:attr'")
    module_name, attr_path = target.split(":", 1)
    obj: object = importlib.import_module(module_name)
    for part in attr_path.split("."):
        obj = getattr(obj, part)
    return obj


class Registry(Generic[T]):
    """A name -> object mapping with lazy ``"module:attr"`` targets.

    Args:
        kind: what the entries are ("benchmark", "parser", ...); used in error messages.
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._targets: dict[str, T | str] = {}
        self._resolved: dict[str, T] = {}

    def register(self, name: str, target: T | str | None = None) -> Callable[[T], T] | None:
        """Register ``target`` under ``name``; without a target, act as a decorator."""
        if target is None:

            def decorator(obj: T) -> T:
                self._add(name, obj)
                return obj

            return decorator  # type: ignore[return-value]
        self._add(name, target)
        return None

    def _add(self, name: str, target: T | str) -> None:
        if not name or not isinstance(name, str):
            raise ValueError(f"{self.kind} name must be a non-empty string, got {name!r}")
        old = self._targets.get(name)
        # A lazy entry may be replaced by the object it points to (the module registering itself).
        replaces_own_lazy = isinstance(old, str) and self._resolved.get(name) is target
        if old is not None and old is not target and old != target and not replaces_own_lazy:
            raise ValueError(f"{self.kind} {name!r} is already registered to {old!r}")
        self._targets[name] = target
        if not isinstance(target, str):
            self._resolved[name] = target

    def get(self, name: str) -> T:
        """Return the entry, importing a lazy target on first use."""
        if name in self._resolved:
            return self._resolved[name]
        if name not in self._targets:
            raise UnknownNameError(self._unknown_message(name))
        target = self._targets[name]
        obj = resolve_target(target) if isinstance(target, str) else target
        self._resolved[name] = obj  # type: ignore[assignment]
        return obj  # type: ignore[return-value]

    def _unknown_message(self, name: str) -> str:
        close = difflib.get_close_matches(name, list(self._targets), n=3, cutoff=0.5)
        hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        known = ", ".join(sorted(self._targets)) or "none"
        return f"unknown {self.kind} {name!r}{hint} (known: {known})"

    def names(self) -> list[str]:
        """All registered names, sorted; imports nothing."""
        return sorted(self._targets)

    def __contains__(self, name: object) -> bool:
        return name in self._targets

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._targets)


# ---------------------------------------------------------------- the project's registries

SUITES: Registry = Registry("built-in suite")
"""Built-in offline suites (``benchmarks.builtin``): generators of items with facts."""

BENCHMARKS: Registry = Registry("benchmark")
"""Every benchmark spec (built-in suites and public benchmarks), by name."""

JUDGES: Registry = Registry("judge")
"""Judges for open-ended benchmarks (LLaVA-Bench)."""

_BUILTIN = {
    "easyvqa": "benchmarks.builtin.easyvqa",
    "digits": "benchmarks.builtin.digits",
    "scenes": "benchmarks.builtin.scenes",
    "charts": "benchmarks.builtin.charts",
    "geometry": "benchmarks.builtin.geometry",
    "arithmetic": "benchmarks.builtin.arithmetic",
    "science": "benchmarks.builtin.science",
}
for _name, _module in _BUILTIN.items():
    SUITES.register(_name, f"{_module}:SUITE")
    BENCHMARKS.register(_name, f"{_module}:BENCHMARK")

_PUBLIC = {
    "mmstar": "benchmarks.public.mmstar",
    "mmbench_en_dev": "benchmarks.public.mmbench",
    "seedbench_img": "benchmarks.public.seedbench",
    "scienceqa_img": "benchmarks.public.scienceqa",
    "ai2d": "benchmarks.public.ai2d",
    "chartqa": "benchmarks.public.chartqa",
    "mathvista_testmini": "benchmarks.public.mathvista",
    "pope": "benchmarks.public.pope",
    "hallusionbench": "benchmarks.public.hallusionbench",
    "llava_bench_wild": "benchmarks.public.llavabench",
}
for _name, _module in _PUBLIC.items():
    BENCHMARKS.register(_name, f"{_module}:SPEC")

TRAINING_SOURCES: Registry = Registry("training source")
"""Public training sets the paper-public pools are drawn from (``benchmarks.training``), by name."""

_TRAINING = {
    "vqav2": "benchmarks.training.vqav2",
    "okvqa": "benchmarks.training.okvqa",
    "aokvqa": "benchmarks.training.aokvqa",
    "textvqa": "benchmarks.training.textvqa",
    "chartqa_train": "benchmarks.training.chartqa",
    "dvqa": "benchmarks.training.dvqa",
    "figureqa": "benchmarks.training.figureqa",
    "scienceqa_train": "benchmarks.training.scienceqa",
    "ai2d_train": "benchmarks.training.ai2d",
    "geo170k": "benchmarks.training.geo170k",
    "mathv360k": "benchmarks.training.mathv360k",
}
for _name, _module in _TRAINING.items():
    TRAINING_SOURCES.register(_name, f"{_module}:SOURCE")

JUDGES.register("file", "benchmarks.judges:FileJudge")
JUDGES.register("openai", "benchmarks.judges:OpenAIJudge")

BUILTIN_SUITES = tuple(_BUILTIN)
PUBLIC_BENCHMARKS = tuple(_PUBLIC)
TRAINING_SOURCE_NAMES = tuple(_TRAINING)
