"""``srcal run``: data, calibration, and every checkpoint evaluated as it lands.

Order (sequential: evaluation of iteration k runs before calibration of k+1 starts, so
one model is in memory at a time)::

    data build (if needed) -> evaluate base -> RFT -> evaluate iter_0 (= sft-only)
      -> for k in 1..K: SRC iteration k -> evaluate iter_k
      -> for each baseline (outcome-dpo, csr-style, ablations given as --set lists):
           its own calibration in baselines/<name>/ starting from this run's iter_0
           -> evaluate its last checkpoint as <name>
    after every evaluation: results.sqlite (WAL) and eval/index.json are refreshed.

Evaluation results live in ``<run_dir>/eval/<checkpoint>/<benchmark>/``. Everything is
resumable: a rerun skips finished stages and (checkpoint, benchmark) pairs.

A run is given one :class:`harness.run_spec.RunSpec` (the preset resolved): its calibration,
its ``eval`` config, and its ``baselines`` (``outcome-dpo``, ``csr-style``; ``sft-only`` is this
run's ``iter_0``).
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.fileio import atomic_write_json
from calibrate.config import ORACLE_ARM, RunConfig, arm_name
from harness.evaluate import Checkpoint, EvalFailures, Evaluation
from harness.pieces import SharedRecord
from harness.run_spec import RunSpec
from harness.store import STORE_NAME, ResultsStore

Progress = Callable[[str], None]


def link_tree(src: Path, dst: Path) -> None:
    """Copy ``src`` to ``dst`` with hard links where the filesystem allows (checkpoints are large)."""

    def link(a: str, b: str) -> None:
        try:
            os.link(a, b)
        except OSError:
            shutil.copy2(a, b)

    stage = dst.with_name(f".{dst.name}.partial-{os.getpid()}")
    shutil.rmtree(stage, ignore_errors=True)
    shutil.copytree(src, stage, copy_function=link)
    os.replace(stage, dst)


def baseline_config(cfg: RunConfig, method: str) -> RunConfig:
    """The calibration config of baseline arm ``method`` of a run whose config is ``cfg``."""
    name = f"{cfg.name}-{method}"
    if method == ORACLE_ARM:  # SRC with the fact judge as its scorer: an oracle upper bound
        scorer = dataclasses.replace(cfg.scorer, kind="facts", mode="pairwise")
        return dataclasses.replace(cfg, method="src", scorer=scorer, name=name)
    return dataclasses.replace(cfg, method=method, name=name)


class Run:
    """One ``srcal run`` in ``run_dir``."""

    def __init__(
        self,
        spec: RunSpec,
        run_dir: str | Path,
        progress: Progress | None = None,
        reuse_from: str | Path | None = None,
        arms: list[str] | None = None,
        shared_record: str | Path | None = None,
    ) -> None:
        """``reuse_from``: an earlier run directory whose completed stages with equal config hash and
        inputs are copied, not recomputed (`calibrate.loop.Calibration`).

        ``arms``: run only these of the run's arms (its method's name, e.g. ``src``, and its baselines;
        ``base`` and ``sft-only`` = ``iter_0`` are always evaluated): one piece of a run in pieces.
        ``shared_record``: the record of the shared stages (`harness.pieces.SharedRecord`) this piece
        checks its data, RFT and R-Scorer against, or is the first to write.
        """
        self.cfg = spec.calibration
        self.run_dir = Path(run_dir)
        self.reuse_from = reuse_from
        self.eval_cfg = spec.eval
        self.main_arm = arm_name(self.cfg)
        known = [self.main_arm, *spec.baselines]
        chosen = list(known) if arms is None else list(dict.fromkeys(arms))
        unknown = [a for a in chosen if a not in known]
        if unknown:
            raise ValueError(
                f"--arms: {', '.join(unknown)} not an arm of this run (its arms: {', '.join(known)})"
            )
        self.arms = chosen
        self.baselines = [b for b in spec.baselines if b in chosen]
        self.shared = SharedRecord(shared_record, self.run_dir.name) if shared_record else None
        self.data_cfg = spec.data
        self.say = progress or (lambda _m: None)
        self.checkpoints: dict[str, dict[str, Any]] = {}
        self.results: dict[str, dict[str, Any]] = {}
        self.failures: dict[str, dict[str, str]] = {}

    def run(self) -> dict[str, Any]:
        from calibrate.loop import Calibration
        from calibrate.zoo.names import resolve_model

        calibration = Calibration(
            self.cfg,
            self.run_dir,
            self.data_cfg,
            self.say,
            on_checkpoint=self._landed,
            reuse_from=self.reuse_from,
            on_stage=self.shared.check if self.shared else None,
        )
        calibration.run(stop_after="data")
        if self.eval_cfg.data_dir is None:
            self.eval_cfg.data_dir = str(calibration.data_dir)
        self._evaluate("base", resolve_model(self.cfg.model.base, progress=self.say), "base", None)
        if self.main_arm in self.arms:
            calibration.run()
        else:  # a piece without the main arm: the shared RFT only (its iter_0 is every baseline's start)
            calibration.run(stop_after="rft")
            self._landed("iter_0", self.run_dir / "iter_0" / "model")
        for method in self.baselines:
            if method == "sft-only":
                self.say("sft-only: this run's iter_0 (the same rationale fine-tuning)")
                continue
            self._baseline(method)
        self._refresh()
        if any(self.failures.values()):
            raise EvalFailures({f"{c}/{b}": m for c, f in self.failures.items() for b, m in f.items()})
        return {"checkpoints": self.checkpoints, "results": self.results}

    # ------------------------------------------------------------------ checkpoints

    def _landed(self, name: str, model_dir: Path) -> None:
        iteration = int(name.split("_")[1])
        self._evaluate(name, str(model_dir), arm_name(self.cfg) if iteration else "sft-only", iteration)

    def _baseline(self, method: str) -> None:
        from calibrate.loop import Calibration

        directory = self.run_dir / "baselines" / method
        if not (directory / "iter_0").exists():
            directory.mkdir(parents=True, exist_ok=True)
            link_tree(self.run_dir / "iter_0", directory / "iter_0")  # same RFT: not trained twice
        cfg = baseline_config(self.cfg, method)
        last = f"iter_{cfg.iterations}"

        def landed(name: str, model_dir: Path) -> None:
            if name == last:
                self._evaluate(method, str(model_dir), method, cfg.iterations)

        self.say(f"baseline {method}: {directory}")
        # candidate search of iteration 1 (same iter_0 policy, items, seed) is copied from this run
        Calibration(
            cfg, directory, self.data_cfg, self.say, on_checkpoint=landed, reuse_from=self.run_dir
        ).run()

    def _evaluate(self, name: str, model: str, method: str, iteration: int | None) -> None:
        from calibrate.checkpoints import is_main_process, wait_for_everyone

        self.say(f"evaluating {name}")
        out = self.run_dir / "eval" / name
        evaluation = Evaluation(Checkpoint(model, None, name), self.eval_cfg, out, progress=self.say)
        donor = self._same_weights(evaluation.identity, name)
        if donor is not None:
            self.say(
                f"{name}: same weights as {donor} (content hash): its responses are reused, not regenerated"
            )
            if is_main_process():
                self._seed_samples(self._donor_dir(donor), out)
            wait_for_everyone()
        try:
            self.results[name] = evaluation.run()
            self.failures[name] = {}
        except EvalFailures as exc:
            self.failures[name] = exc.failures
        self.checkpoints[name] = {
            "method": method,
            "iteration": iteration,
            "model": model,
            **{k: evaluation.identity.get(k) for k in ("model_hash", "adapter_hash")},
            **({"reused_from": donor} if donor is not None else {}),
        }
        self._refresh()

    def _same_weights(self, identity: dict[str, Any], name: str) -> str | None:
        """An evaluated checkpoint whose weights hash like ``identity``'s, if any: one of this run
        (its name), else one of the ``reuse_from`` run evaluated with the same settings
        (``<run dir>/eval/<name>``; a piece's base and sft-only were evaluated by the piece before it)."""
        keys = ("model_hash", "adapter_hash")
        for other, info in self.checkpoints.items():
            same = all(info.get(k) == identity.get(k) for k in keys)
            if other != name and same and not self.failures.get(other):
                return other
        index_path = Path(self.reuse_from).resolve() / "eval" / "index.json" if self.reuse_from else None
        if index_path is None or not index_path.is_file():
            return None
        index = json.loads(index_path.read_text())
        if index.get("eval_hash") != self.eval_cfg.results_hash():  # other items or settings
            return None
        for other, info in index.get("checkpoints", {}).items():
            same = identity.get("model_hash") is not None and all(
                info.get(k) == identity.get(k) for k in keys
            )
            if same and other not in index.get("failures", {}):
                return str(index_path.parent / other)
        return None

    def _donor_dir(self, donor: str) -> Path:
        """The evaluation directory of ``donor`` (a checkpoint of this run, or a path into another)."""
        return Path(donor) if Path(donor).is_absolute() else self.run_dir / "eval" / donor

    def _seed_samples(self, donor: Path, out: Path) -> None:
        """Copy ``donor``'s per-benchmark response logs into ``out`` (cache keys hash the weights, not the path).

        The evaluation then generates nothing (every sample's cache key matches) and recomputes only
        its metrics; a benchmark already in ``out`` is left alone.
        """
        for samples in donor.glob("*/samples.jsonl"):
            target = out / samples.parent.name / samples.name
            if not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(samples, target)

    def _refresh(self) -> None:
        """Re-index the store and write eval/index.json (the leaderboard's inputs; rank 0 of a launch)."""
        from calibrate.checkpoints import is_main_process

        if not is_main_process():
            return
        with ResultsStore(self.run_dir / STORE_NAME) as store:
            rows = store.refresh(self.run_dir, self.cfg.name, self.checkpoints)
        index = {
            "run": self.cfg.name,
            "method": arm_name(self.cfg),
            "iterations": self.cfg.iterations,
            "baselines": self.baselines,
            "arms": self.arms,
            "benchmarks": self.eval_cfg.benchmarks,
            "eval_hash": self.eval_cfg.results_hash(),
            "checkpoints": self.checkpoints,
            "order": list(self.checkpoints),
            "failures": {k: v for k, v in self.failures.items() if v},
            "store": STORE_NAME,
            "metric_rows": rows,
        }
        atomic_write_json(self.run_dir / "eval" / "index.json", index)
