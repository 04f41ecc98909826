"""What identifies a run's results: the sentinels behind committed results.

- :func:`planned_hashes`: every arm's stage config hashes and the evaluation's, from a run spec
  alone (nothing runs). Committed results keep them in ``stage_hashes.json``; a test recomputes
  them from today's preset, so a change of the demo's or the report's settings cannot land
  without regenerated results.
- :func:`recorded_hashes`: the same read back from a finished run directory's manifests (what
  :func:`publish` checks against the plan before it writes anything).
- :func:`stage_summaries`: every stage's summary as its manifest holds it, timing fields removed
  and paths made relative: with the leaderboard CSV, the golden files of the smoke run
  (``tests/golden/smoke/``), compared byte for byte in ``tox -e py``.

Regenerate the smoke golden files: ``python -m tools.golden``; publish a finished run's results:
``python -m tools.golden --publish RUN_DIR --preset tiny --out leaderboards/results/tiny``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from benchmarks.configuration import RunDirError
from benchmarks.fileio import srcal_home
from calibrate.config import arm_name
from calibrate.loop import planned_stage_hashes
from harness.run import baseline_config
from harness.run_spec import RunSpec

FORMAT = 1
"""Version of ``stage_hashes.json``."""
TIMING_KEYS = frozenset(
    {
        "seconds",
        "build_seconds",
        "finished_at",
        "created",
        "indexed_at",
        "timing",
        "train_runtime",
        "peak_cuda_gib",
        "tokens_per_s",
        "pairs_per_s",
        "train_samples_per_second",
        "train_steps_per_second",
    }
)
"""Keys whose values are wall-clock times, rates or dates, wherever they appear: left out of golden
files (and of `tools/kill_anywhere`'s comparisons)."""


def planned_hashes(spec: RunSpec) -> dict[str, Any]:
    """Each arm's stage hashes (``arms``: arm -> stage -> hash) and the evaluation's (``eval``)."""
    cfg = spec.calibration
    arms = {arm_name(cfg): planned_stage_hashes(cfg, spec.data)}
    for method in spec.baselines:
        if method != "sft-only":  # sft-only is the run's own iter_0
            arms[method] = planned_stage_hashes(baseline_config(cfg, method), spec.data)
    return {"format": FORMAT, "arms": arms, "eval": spec.eval.results_hash()}


def _arm_hashes(directory: Path) -> dict[str, str]:
    """stage -> config hash from the manifests of one arm's directory; every iteration must agree."""
    hashes: dict[str, str] = {}
    for manifest in sorted(directory.glob("*/*.manifest.json")):
        stage, digest = manifest.name.removesuffix(".manifest.json"), json.loads(manifest.read_text())
        seen = hashes.setdefault(stage, digest["config_hash"])
        if seen != digest["config_hash"]:
            raise RunDirError(f"{manifest}: config hash differs from another iteration's {stage} stage")
    return hashes


def recorded_hashes(run_dir: str | Path) -> dict[str, Any]:
    """:func:`planned_hashes`' shape, read from a finished run's manifests and ``eval/index.json``."""
    run_dir = Path(run_dir)
    index_path = run_dir / "eval" / "index.json"
    if not index_path.is_file():
        raise RunDirError(f"{run_dir}: no eval/index.json (not a finished `srcal run` directory)")
    index = json.loads(index_path.read_text())
    arms = {index["method"]: _arm_hashes(run_dir)}
    for method in index.get("baselines", []):
        if method != "sft-only":
            arms[method] = _arm_hashes(run_dir / "baselines" / method)
    return {"format": FORMAT, "arms": arms, "eval": index.get("eval_hash")}


def _relative(value: Any, roots: dict[str, str]) -> Any:
    if isinstance(value, dict):
        return {k: _relative(v, roots) for k, v in value.items() if k not in TIMING_KEYS}
    if isinstance(value, list):
        return [_relative(v, roots) for v in value]
    if isinstance(value, str):
        for root, name in roots.items():
            value = value.replace(root, name)
    return value


def stage_summaries(run_dir: str | Path, home: str | Path | None = None) -> dict[str, Any]:
    """``<dir>/<stage>`` -> the stage's summary, without :data:`TIMING_KEYS`, paths as ``<run>/``, ``<home>/``.

    ``home``: the ``$SRCAL_HOME`` the run used (default: this process's).
    """
    run_dir = Path(run_dir).resolve()
    roots = {str(run_dir): "<run>", str(Path(home or srcal_home()).resolve()): "<home>"}
    out = {}
    for manifest in sorted(run_dir.rglob("*.manifest.json")):
        key = (
            manifest.parent.relative_to(run_dir).as_posix()
            + "/"
            + manifest.name.removesuffix(".manifest.json")
        )
        out[key] = _relative(json.loads(manifest.read_text()).get("summary", {}), roots)
    return out


def dumps(data: Any) -> str:
    """The committed form of a JSON document (sorted keys, two-space indent, final newline)."""
    return json.dumps(data, indent=2, sort_keys=True) + "\n"
