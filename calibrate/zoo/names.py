"""Zoo names usable wherever a model id is expected, resolved to directories built on demand.

``srcal-tiny`` and ``srcal-micro`` (vision-language), ``srcal-micro-lm`` (a tiny causal LM)
and ``smollm2-135m-instruct`` (the offline language-model part) live under
``$SRCAL_HOME``; any other string is returned unchanged (a hub id or a directory).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

from benchmarks.fileio import srcal_home

ZOO_NAMES = ("srcal-tiny", "srcal-micro", "srcal-micro-lm", "smollm2-135m-instruct")


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


def resolve_model(name_or_path: str, progress: Callable[[str], None] | None = None) -> str:
    """A directory for a zoo name (building it if missing); other ids pass through unchanged."""
    if name_or_path == "smollm2-135m-instruct":
        from calibrate.zoo.parts import smollm2_dir

        return str(smollm2_dir())
    if name_or_path == "srcal-micro":
        from calibrate.zoo.srcal_micro import build_srcal_micro

        return str(_build_once(name_or_path, build_srcal_micro))
    if name_or_path == "srcal-micro-lm":
        from calibrate.zoo.srcal_micro import build_srcal_micro_lm

        return str(_build_once(name_or_path, build_srcal_micro_lm))
    if name_or_path == "srcal-tiny":
        from calibrate.zoo.srcal_tiny import build_srcal_tiny

        return str(build_srcal_tiny(progress=progress))
    return name_or_path
