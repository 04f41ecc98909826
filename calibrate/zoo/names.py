"""Zoo names usable wherever a model id is expected, resolved to directories built on demand.

``srcal-tiny`` and ``srcal-micro`` (vision-language), ``srcal-micro-lm`` (a tiny causal LM)
and ``smollm2-135m-instruct`` (the offline language-model part) live under
``$SRCAL_HOME``; any other string is returned unchanged (a hub id or a directory).
Each name is an entry of the ``ZOO`` registry: a function ``(progress) -> directory``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

from benchmarks.fileio import srcal_home
from benchmarks.registry import Registry

Progress = Callable[[str], None] | None
ZOO: Registry[Callable[[Progress], Path]] = Registry("zoo model")
ZOO.register("smollm2-135m-instruct", "calibrate.zoo.names:_smollm2")
ZOO.register("srcal-micro", "calibrate.zoo.names:_srcal_micro")
ZOO.register("srcal-micro-lm", "calibrate.zoo.names:_srcal_micro_lm")
ZOO.register("srcal-tiny", "calibrate.zoo.names:_srcal_tiny")
ZOO_NAMES = tuple(ZOO.names())


def _build_once(name: str, builder: Callable[[Path], Path]) -> Path:
    out = srcal_home() / "zoo" / name
    if (out / "config.json").is_file():
        return out
    stage = out.with_name(f".{name}.partial-{os.getpid()}")
    shutil.rmtree(stage, ignore_errors=True)
    try:
        builder(stage)
        shutil.rmtree(out, ignore_errors=True)
        os.replace(stage, out)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return out


def _smollm2(progress: Progress = None) -> Path:
    from calibrate.zoo.parts import smollm2_dir

    return smollm2_dir()


def _srcal_micro(progress: Progress = None) -> Path:
    from calibrate.zoo.srcal_micro import build_srcal_micro

    return _build_once("srcal-micro", build_srcal_micro)


def _srcal_micro_lm(progress: Progress = None) -> Path:
    from calibrate.zoo.srcal_micro import build_srcal_micro_lm

    return _build_once("srcal-micro-lm", build_srcal_micro_lm)


def _srcal_tiny(progress: Progress = None) -> Path:
    from calibrate.zoo.srcal_tiny import build_srcal_tiny

    return build_srcal_tiny(progress=progress)


def resolve_model(name_or_path: str, progress: Progress = None) -> str:
    """A directory for a zoo name (building it if missing); other ids pass through unchanged."""
    if name_or_path in ZOO:
        return str(ZOO.get(name_or_path)(progress))
    return name_or_path
