"""One run spec: what a preset, a config file and ``--set`` overrides resolve into.

``srcal run`` and ``srcal calibrate`` both start here. The layers merge into one mapping
(:func:`resolve_mapping`: preset ``harness/presets/<name>.yaml``, then ``--config FILE`` over
it, then ``--set KEY=VALUE`` over both); :func:`resolve_run_spec` splits that mapping by owner
and each layer parses only its own part:

=============  ================================================  ============================
section        parsed by                                         into
=============  ================================================  ============================
``data``       ``benchmarks.configuration.from_mapping``         ``benchmarks.build.DataConfig``
``eval``       ``harness.evaluate.eval_config_from``             ``EvalConfig``
``baselines``  this module                                       method names
the rest       ``calibrate.config.run_config_from_dict``         ``calibrate.config.RunConfig``
=============  ================================================  ============================
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from benchmarks.build import DataConfig
from benchmarks.configuration import (
    ConfigError,
    apply_overrides,
    from_mapping,
    load_yaml,
    merge_mappings,
    preset_path,
)
from calibrate.config import METHODS, ORACLE_ARM, RunConfig, run_config_from_dict
from harness.evaluate import EvalConfig, eval_config_from

PRESET_DIR = Path(__file__).parent / "presets"
HARNESS_SECTIONS = ("data", "eval", "baselines")
"""The sections of a run spec the harness owns; everything else is calibration's."""
BASELINES = (*(m for m in METHODS if m != "src"), ORACLE_ARM)
"""Baseline arms: the other methods, and SRC judged by the fact judge (an oracle upper bound)."""


@dataclass
class RunSpec:
    """Everything one ``srcal run`` needs, each part parsed by the layer that owns it."""

    calibration: RunConfig = field(metadata={"help": "The calibration (top-level fields, model, stages)."})
    eval: EvalConfig = field(metadata={"help": "How every checkpoint is evaluated (`eval:`)."})
    baselines: list[str] = field(
        default_factory=list,
        metadata={"help": "Baseline methods calibrated from this run's iter_0 (`baselines:`)."},
    )
    data: DataConfig | None = field(
        default=None,
        metadata={"help": "The dataset to build (`data:`); None: the calibration's `data_preset`."},
    )
    source: str = field(default="defaults", metadata={"help": "Where the spec came from (for errors)."})


def preset_names() -> list[str]:
    return sorted(p.stem for p in PRESET_DIR.glob("*.yaml"))


def resolve_mapping(
    preset: str | None = None,
    config_file: str | Path | None = None,
    overrides: list[str] | tuple[str, ...] = (),
) -> tuple[dict[str, Any], str]:
    """The merged mapping of a preset, a config file and ``--set`` overrides, and where it came from."""
    merged: dict[str, Any] = {}
    where = "defaults"
    if preset:
        path = preset_path(PRESET_DIR, preset)
        merged, where = load_yaml(path), str(path)
    if config_file:
        merged, where = merge_mappings(merged, load_yaml(config_file)), str(config_file)
    if overrides:
        merged, where = apply_overrides(merged, overrides), f"{where} + --set"
    return merged, where


def resolve_run_spec(
    preset: str | None = None,
    config_file: str | Path | None = None,
    overrides: list[str] | tuple[str, ...] = (),
    benchmarks: list[str] | None = None,
    baselines: list[str] | None = None,
    limit: int | None = None,
) -> RunSpec:
    """Resolve a run spec; ``benchmarks``, ``baselines`` and ``limit`` are CLI flags over the preset."""
    merged, where = resolve_mapping(preset, config_file, overrides)
    _check_top_level(merged, where)
    owned = {key: merged.pop(key, None) for key in HARNESS_SECTIONS}
    data = owned["data"]
    if data is not None and not isinstance(data, dict):
        raise ConfigError(f"{where}: section 'data' must be a mapping")
    eval_section = owned["eval"] or {}
    if not isinstance(eval_section, dict):
        raise ConfigError(f"{where}: section 'eval' must be a mapping")
    chosen = baselines if baselines is not None else owned["baselines"] or []
    return RunSpec(
        calibration=run_config_from_dict(merged, where),
        eval=eval_config_from((), eval_section, benchmarks=benchmarks, limit=limit),
        baselines=_check_baselines(chosen, where),
        data=from_mapping(DataConfig, data, f"{where}: data") if data else None,
        source=where,
    )


def _check_top_level(merged: dict[str, Any], where: str) -> None:
    """A top-level key neither layer owns, named with the closest of all of them (``evals`` -> ``eval``)."""
    known = [*HARNESS_SECTIONS, *(f.name for f in fields(RunConfig))]
    for key in merged:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ConfigError(f"{where}: unknown top-level field {key!r}{hint}")


def _check_baselines(names: Any, where: str) -> list[str]:
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ConfigError(f"{where}: 'baselines' must be a list of method names, got {names!r}")
    for name in names:
        if name not in BASELINES:
            close = difflib.get_close_matches(name, BASELINES, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ConfigError(
                f"{where}: unknown baseline {name!r}{hint}; expected one of {', '.join(BASELINES)}"
            )
    return list(names)
