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
    weights: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Checkpoint -> its weights' content hashes (``model_hash``, ``adapter_hash``; eval/index.json)."""
    eval_hash: str | None = None
    """The evaluation settings' hash (eval/index.json): pieces of one run must share it."""

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
        {n: {k: index["checkpoints"][n].get(k) for k in WEIGHT_KEYS} for n in names},
        index.get("eval_hash"),
    )


WEIGHT_KEYS = ("model_hash", "adapter_hash")
SHARED_CHECKPOINTS = ("base", "iter_0")
"""Checkpoints every piece of a run evaluates: the base and the RFT every arm starts from."""


def merge_pieces(pieces: list[RunResults]) -> RunResults:
    """One run's results from its pieces (``srcal run --arms ...``, all named alike), as one directory's would be.

    Refused (:class:`RunDirError`) when the pieces' evaluation settings, benchmarks, ``base``/``iter_0``
    weights or evaluated items differ, or when two pieces hold the same non-shared checkpoint.
    Checkpoints come in a single run's order: base, iter_0, the method's iterations, then the baselines
    in the order of the pieces given.
    """
    import pandas as pd

    first = pieces[0]
    if len(pieces) == 1:
        return first
    where = ", ".join(str(p.run_dir) for p in pieces)
    for other in pieces[1:]:
        pair = f"{other.run_dir} vs {first.run_dir}"
        if other.eval_hash != first.eval_hash:
            raise RunDirError(
                f"pieces of run {first.run!r} were evaluated with other settings ({pair}: eval_hash)"
            )
        if other.benchmarks != first.benchmarks:
            raise RunDirError(f"pieces of run {first.run!r} cover other benchmarks ({pair})")
        for name in SHARED_CHECKPOINTS:
            if other.weights.get(name) != first.weights.get(name):
                raise RunDirError(
                    f"pieces of run {first.run!r}: {name} differs ({pair}: {other.weights.get(name)} vs "
                    f"{first.weights.get(name)}); every piece must start from the same {name}"
                )
            for bench in first.benchmarks:
                mine = [r["id"] for r in other.samples.get((name, bench), [])]
                theirs = [r["id"] for r in first.samples.get((name, bench), [])]
                if mine != theirs:
                    raise RunDirError(
                        f"pieces of run {first.run!r}: the evaluated items of {bench} differ ({pair}, "
                        f"{len(mine)} vs {len(theirs)} items)"
                    )
    checkpoints = [c for c in first.checkpoints if c.name in SHARED_CHECKPOINTS]
    owner: dict[str, RunResults] = {c.name: first for c in checkpoints}
    for piece in pieces:
        for c in piece.checkpoints:
            if c.name in SHARED_CHECKPOINTS:
                continue
            if c.name in owner:
                raise RunDirError(f"checkpoint {c.name!r} of run {first.run!r} is in two pieces ({where})")
            owner[c.name] = piece
            checkpoints.append(c)
    iterations = sorted(
        (c for c in checkpoints if c.name.startswith("iter_")), key=lambda c: c.iteration or 0
    )
    checkpoints = iterations + [c for c in checkpoints if not c.name.startswith("iter_")]
    checkpoints.sort(key=lambda c: c.name != "base")  # stable: base first, as a run evaluates it
    frames = [p.metrics[p.metrics["checkpoint"].map(lambda n, p=p: owner.get(n) is p)] for p in pieces]
    metrics = pd.concat(frames, ignore_index=True)
    metrics = metrics.sort_values(["checkpoint", "benchmark", "metric"], kind="stable", ignore_index=True)
    samples = {key: rows for key, rows in first.samples.items() if key[0] in SHARED_CHECKPOINTS}
    calibration: dict[str, dict[str, Any]] = {}
    readers: dict[str, str] = {}
    for piece in pieces:
        samples.update({k: v for k, v in piece.samples.items() if owner.get(k[0]) is piece})
        calibration.update({k: v for k, v in piece.calibration.items() if owner.get(k) is piece})
        readers.update({k: v for k, v in piece.readers.items() if owner.get(k) is piece})
    return RunResults(
        first.run,
        first.run_dir,
        checkpoints,
        metrics,
        first.benchmarks,
        {k: v for p in pieces for k, v in p.categories.items()},
        samples,
        calibration,
        readers,
        next((p.scorer_curve for p in pieces if p.scorer_curve), []),
        {c.name: owner[c.name].weights.get(c.name, {}) for c in checkpoints},
        first.eval_hash,
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
