"""What a leaderboard reads: a run's checkpoints, stored metrics and per-sample outcomes.

A run directory written by ``srcal run`` holds ``eval/index.json`` (checkpoints in order,
with method and iteration), ``results.sqlite`` (the metric values with CIs, see
:mod:`harness.store`) and ``eval/<checkpoint>/<benchmark>/samples.jsonl`` (per-sample
outcomes, used for pooled metrics and paired comparisons on the same items).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.configuration import RunDirError

CATEGORY_GROUPS = {
    "perception": "perception & knowledge",
    "chart": "chart",
    "math_science": "math & science",
    "qa": "public QA",
    "reasoning": "reasoning",
    "hallucination": "hallucination",
}
GROUP_ORDER = list(CATEGORY_GROUPS.values())
ORACLE_ARM = "src-facts"
"""The method name results give SRC judged by the fact judge (`calibrate.config.ORACLE_ARM`): an oracle."""


@dataclass
class Checkpoint:
    run: str
    name: str
    method: str
    iteration: int | None
    previous: str | None
    """The checkpoint this one was trained from (``None`` for the base)."""

    @property
    def label(self) -> str:
        if self.name == "base":
            return "base"
        if self.name == "iter_0":
            return "sft-only (iter_0)"
        if self.method == ORACLE_ARM:  # never shown as the paper's R-Scorer
            return f"SRC, facts judge (ORACLE upper bound) iter {self.iteration}"
        if self.name.startswith("iter_"):
            return f"{self.method.upper() if self.method == 'src' else self.method} iter {self.iteration}"
        return f"{self.name} (iter {self.iteration})" if self.iteration is not None else self.name


@dataclass
class RunResults:
    run: str
    run_dir: Path
    checkpoints: list[Checkpoint]
    metrics: Any
    """DataFrame of the store's rows (run, checkpoint, benchmark, category, metric, value, ci_low, ci_high, n)."""
    benchmarks: list[str]
    categories: dict[str, str]
    samples: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)
    calibration: dict[str, dict[str, Any]] = field(default_factory=dict)
    readers: dict[str, str] = field(default_factory=dict)
    """Checkpoint -> name of the reader that judged its consistency (``a + b`` when benchmarks differ)."""
    scorer_curve: list[dict[str, Any]] = field(default_factory=list)
    """The learned R-Scorer's held-out figures while it trained (``scorer/scorer.manifest.json``)."""

    def rows(self, checkpoint: str, benchmarks: list[str] | None = None) -> list[dict[str, Any]]:
        """Per-sample outcomes of ``checkpoint`` over ``benchmarks`` (all by default), ids made unique."""
        out = []
        for bench in benchmarks or self.benchmarks:
            for row in self.samples.get((checkpoint, bench), []):
                out.append({**row, "id": f"{bench}/{row['id']}"})
        return out


SAMPLE_FIELDS = ("id", "correct", "consistent", "parse_status", "rationale", "claims_checked", "claims_true")


def _read_samples(path: Path) -> list[dict[str, Any]]:
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        rows.append({k: record.get(k) for k in SAMPLE_FIELDS})
    return rows


def reader_name(provenance: dict[str, Any]) -> str | None:
    """The consistency reader's name in a ``metrics.json`` provenance (its own or its fingerprint's)."""
    reader = provenance.get("reader") or (provenance.get("fingerprint") or {}).get("reader")
    if isinstance(reader, dict):
        reader = reader.get("reader") or reader.get("name")
    return str(reader) if reader else None


def _readers(frame: Any) -> dict[str, str]:
    """Checkpoint -> reader name(s), from the store's provenance column."""
    names: dict[str, set[str]] = {}
    if "provenance" not in frame:
        return {}
    for checkpoint, provenance in set(zip(frame["checkpoint"], frame["provenance"])):
        name = reader_name(json.loads(provenance or "{}"))
        if name:
            names.setdefault(checkpoint, set()).add(name)
    return {c: " + ".join(sorted(n)) for c, n in names.items()}


def _previous(name: str, names: list[str]) -> str | None:
    if name == "base":
        return None
    if name.startswith("iter_"):
        k = int(name.split("_")[1])
        return "base" if k == 0 else f"iter_{k - 1}"
    return "iter_0" if "iter_0" in names else None  # baselines start from the run's iter_0


FORMER_STAGE_NAMES = {"verdicts": "judge"}
"""Stage manifests of run directories written before a stage was renamed (still read)."""


def _calibration(run_dir: Path, names: list[str]) -> dict[str, dict[str, Any]]:
    """Per-iteration calibration figures from the stage manifests (pairs kept, DPO reward accuracy, ...)."""
    out: dict[str, dict[str, Any]] = {}
    keys = {
        "candidates": {
            "candidates_per_item": "candidates/item",
            "correct_rate": "candidates correct",
            "parse_failure_rate": "candidate parse failures",
            "distinct_answers_per_item": "distinct answers/item",
            "mixed_items_rate": "items with right and wrong candidates",
        },
        "verdicts": {
            "fact_agreement": "R-Scorer agreement (facts)",
            "fact_decisive_agreement": "decisive agreement",
            "mean_tie_mass": "tie mass",
        },
        "curate": {"pairs_kept": "pairs kept"},
        "preference": {
            "reward_accuracy_mean": "DPO reward acc. (training mean)",
            "reward_accuracy_final": "DPO reward acc. (end, all pairs)",
            "reward_margin_final": "DPO margin (end)",
        },
    }
    for name in names:
        if not name.startswith("iter_"):
            continue
        figures: dict[str, Any] = {}
        for stage, wanted in keys.items():
            path = run_dir / name / f"{stage}.manifest.json"
            if not path.is_file():
                path = run_dir / name / f"{FORMER_STAGE_NAMES.get(stage, stage)}.manifest.json"
            if path.is_file():
                summary = json.loads(path.read_text()).get("summary", {})
                figures.update({label: summary[k] for k, label in wanted.items() if k in summary})
        out[name] = figures
    return out


def read_store(path: Path, run: str) -> Any:
    """The store's metric rows of ``run`` as a DataFrame (SELECT only; ``srcal leaderboard`` rebuilds it)."""
    import sqlite3

    import pandas as pd

    if not path.is_file():
        raise RunDirError(
            f"{path}: results store missing (`srcal leaderboard` or `srcal run --resume` rebuilds it)"
        )
    conn = sqlite3.connect(path)
    try:
        frame = pd.read_sql_query("SELECT * FROM results WHERE run = ?", conn, params=(run,))
    finally:
        conn.close()
    if frame.empty:
        raise RunDirError(
            f"{path}: no results of run {run!r} (`srcal leaderboard` or `srcal run --resume` rebuilds it)"
        )
    return frame


def load_run(run_dir: str | Path) -> RunResults:
    """Everything a leaderboard needs from one run directory (read only: the harness writes the store)."""
    run_dir = Path(run_dir)
    index_path = run_dir / "eval" / "index.json"
    if not index_path.is_file():
        raise RunDirError(f"{run_dir}: no eval/index.json (not a run evaluated by `srcal run`)")
    index = json.loads(index_path.read_text())
    run = index["run"]
    names = [n for n in index.get("order") or list(index["checkpoints"]) if n in index["checkpoints"]]
    frame = read_store(run_dir / index.get("store", "results.sqlite"), run)
    benchmarks = [b for b in index["benchmarks"] if b in set(frame["benchmark"])]
    categories = dict(zip(frame["benchmark"], frame["category"]))
    checkpoints = [
        Checkpoint(
            run,
            name,
            index["checkpoints"][name].get("method") or "",
            index["checkpoints"][name].get("iteration"),
            _previous(name, names),
        )
        for name in names
    ]
    samples = {}
    for name in names:
        for bench in benchmarks:
            path = run_dir / "eval" / name / bench / "samples.jsonl"
            if path.is_file():
                samples[(name, bench)] = _read_samples(path)
    return RunResults(
        run,
        run_dir,
        checkpoints,
        frame,
        benchmarks,
        categories,
        samples,
        _calibration(run_dir, names),
        _readers(frame),
        _scorer_curve(run_dir),
    )


def _scorer_curve(run_dir: Path) -> list[dict[str, Any]]:
    """The R-Scorer's learning curve (step, pairs seen, held-out agreement ...) from its stage manifest."""
    path = run_dir / "scorer" / "scorer.manifest.json"
    if not path.is_file():
        return []
    return list(json.loads(path.read_text()).get("summary", {}).get("learning_curve", []))


def load_reference(path: str | Path | None = None) -> list[dict[str, Any]]:
    """Published rows (``leaderboards/reference.yaml``): model, citation, source and values on a 0-1 scale."""
    import yaml

    path = Path(path) if path else Path(__file__).with_name("reference.yaml")
    data = yaml.safe_load(path.read_text()) or {}
    rows = []
    for entry in data.get("rows", []):
        rows.append(
            {**entry, "values": {k: round(v / 100.0, 6) for k, v in (entry.get("values") or {}).items()}}
        )
    return rows
