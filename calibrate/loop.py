"""The SRC iteration driver: ``srcal calibrate``.

Run directory::

    <run_dir>/run.yaml                 resolved config (every default explicit) + provenance
    <run_dir>/data/manifest.json       the dataset this run trains on (path, hashes, counts)
    <run_dir>/iter_0/                  stage 1 (RFT): adapter/, model/, rft.manifest.json
    <run_dir>/scorer/                  the R-Scorer's training candidates, labels, adapter/
    <run_dir>/iter_k/ (k = 1..K)       candidates.jsonl, verdicts.jsonl, pairs.jsonl,
                                       adapter/, model/ and one manifest per stage

Each stage is one entry point in its own module (a :class:`calibrate.artifacts.Stage`: typed
inputs, its own reading, writing and sharding); the driver runs it under its manifest. A stage
is skipped when its manifest matches its config and inputs and its outputs still hash as
recorded; an interrupted per-item stage (candidates, verdicts) resumes at the first missing
item; training stages restart and write atomically. Iteration k starts from
``iter_{k-1}/model`` (adapter merged, lineage in each adapter's record).

Methods (same driver, a different candidate scorer in stage 3, see :mod:`calibrate.verdicts`):
``src`` (R-Scorer, confidence-weighted curation), ``sft-only`` (iteration 0 only),
``outcome-dpo`` (chosen/rejected by answer correctness, no scorer), ``csr-style`` (the policy's
own likelihood mixed with an image-relevance term, see :mod:`calibrate.baselines`). Ablations
are config fields (``scorer.mode=pointwise``, ``curation.confidence_weighting=false``,
``candidates.strategy=sentence_search``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar

from benchmarks.build import DATA_LATER_FIELDS, DataConfig, build_dataset, load_data_config
from benchmarks.configuration import ConfigError, RunDirError
from benchmarks.fileio import atomic_write_json, atomic_write_text, srcal_home
from benchmarks.pools import disjoint_slices, stratified_pool
from benchmarks.records import BenchmarkItem, read_items
from calibrate.artifacts import (
    Artifact,
    Stage,
    config_hash,
    cuda_peak_gib,
    is_complete,
    read_manifest,
    reset_cuda_peak,
    reuse_stage,
    write_manifest,
)
from calibrate.checkpoints import is_main_process, wait_for_everyone, world_size
from calibrate.config import LATER_FIELDS, RunConfig, result_fields

STAGES = ("data", "rft", "scorer", "candidates", "verdicts", "curate", "preference")
STAGE_ALIASES = {"judge": "verdicts"}
"""Former stage names ``stop_after`` (``--stage``) still accepts."""
METHOD_FREE_STAGES = ("data", "rft", "candidates")
"""Stages whose result does not depend on the method: a baseline's equal stage is the SRC run's."""
Progress = Callable[[str], None]


def stage_digest(stage: Stage, cfg: RunConfig) -> str:
    """A stage's config hash (its manifest's ``config_hash``): its result fields, the run's seed, the method.

    Data, RFT and candidate search do not depend on the method (baselines reuse them).
    """
    method = None if stage.name in METHOD_FREE_STAGES else cfg.method
    hashed = result_fields(stage.config())
    return config_hash({"stage": stage.name, "config": hashed, "seed": cfg.seed, "method": method})


def planned_stage_hashes(cfg: RunConfig, data_cfg: DataConfig | None = None) -> dict[str, str]:
    """Every stage's config hash for ``cfg``, computed without running anything (stage name -> hash).

    The stages are built as :class:`Calibration` builds them, on placeholder inputs (a stage's
    config never reads its inputs); iteration k's stages hash alike for every k. Committed results
    record these (``leaderboards/results/*/stage_hashes.json``) so that a change of settings cannot
    land without regenerated results.
    """
    from calibrate.candidates import CandidateStage
    from calibrate.curation import CurationStage
    from calibrate.preference import PreferenceStage
    from calibrate.rationale_sft import RFTStage
    from calibrate.scorer.train import ScorerStage
    from calibrate.verdicts import VerdictJob, VerdictStage

    data_cfg = data_cfg or load_data_config(cfg.data_preset)
    here, none = Path("."), Artifact(Path("."), "")
    stages: list[Stage] = [DataStage(data_cfg, here, here), RFTStage(cfg.rft, "", [], "", here, here, 0)]
    if cfg.method != "sft-only" and cfg.iterations > 0:
        if cfg.method == "src" and cfg.scorer.kind != "facts" and not cfg.scorer.adapter:
            stages.append(ScorerStage(cfg.scorer, cfg.candidates, none, [], "", here, here, 0))
        job = VerdictJob(cfg, [], none, here, none)
        stages += [
            CandidateStage(cfg.candidates, none, [], "", here, here, 0),
            VerdictStage(job, here),
            CurationStage(cfg.curation, cfg.method, [], none, none, here),
            PreferenceStage(cfg.preference, none, none, [], here, here, 0),
        ]
    return {stage.name: stage_digest(stage, cfg) for stage in stages}


def _yaml(data: dict[str, Any]) -> str:
    import yaml

    return yaml.safe_dump(data, sort_keys=False)


def _comparable(resolved: dict[str, Any]) -> dict[str, Any]:
    """A run.yaml's resolved config without the fields added since runs were recorded, where they keep
    their defaults (`LATER_FIELDS`, `DATA_LATER_FIELDS`): a run recorded before them resumes."""

    def strip(value: Any, later: dict[str, Any]) -> Any:
        if isinstance(value, dict):
            return {k: strip(v, later) for k, v in value.items() if not (k in later and v == later[k])}
        return value

    return {
        "run": strip(resolved.get("run"), LATER_FIELDS),
        "data": strip(resolved.get("data"), DATA_LATER_FIELDS),
    }


@dataclass
class DataStage:
    """The data stage: the training pools (`benchmarks.build.build_dataset`, cached) and the run's record."""

    cfg: DataConfig
    data_dir: Path
    directory: Path
    """``<run_dir>/data``: holds ``manifest.json`` (path, hashes, counts)."""
    progress: Progress | None = None

    name: ClassVar[str] = "data"
    output: ClassVar[str] = "manifest.json"
    mode: ClassVar[str] = "main"

    def config(self) -> dict[str, Any]:
        return self.cfg.identity()

    def inputs(self) -> dict[str, str]:
        return {}

    def run(self) -> tuple[list[str], dict[str, Any]]:
        manifest = build_dataset(self.cfg, self.data_dir, progress=self.progress)
        atomic_write_json(self.directory / self.output, {"path": str(self.data_dir), **manifest})
        counts = {s: v["count"] for s, v in manifest["splits"].items()}
        return [self.output], {"data_dir": str(self.data_dir), **counts}


class Calibration:
    """One calibration run in ``run_dir``."""

    def __init__(
        self,
        cfg: RunConfig,
        run_dir: str | Path,
        data_cfg: DataConfig | None = None,
        progress: Progress | None = None,
        on_checkpoint: Callable[[str, Path], None] | None = None,
        reuse_from: str | Path | None = None,
        on_stage: Callable[[Path, str, dict[str, Any]], None] | None = None,
    ) -> None:
        """``on_checkpoint(name, model_dir)`` is called as each checkpoint lands (``iter_0``, ``iter_1``, ...).

        ``on_stage(directory, name, manifest)`` is called as each stage is complete (computed, copied
        or found done), before the next starts: it may stop the run by raising.

        ``reuse_from``: another run directory whose completed stages are copied instead of
        recomputed when their config hash (method included for the method's own stages) and
        inputs are equal: a baseline's iteration-1 candidates come from its SRC run (same iter_0
        policy, seed and items); ``srcal run --reuse-from`` starts a run from an earlier one's
        stages (a dev run whose settings of later stages were then chosen).
        """
        self.cfg = cfg
        self.reuse_from = Path(reuse_from) if reuse_from is not None else None
        self.on_checkpoint = on_checkpoint or (lambda _n, _d: None)
        self.on_stage = on_stage or (lambda _d, _n, _m: None)
        self.run_dir = Path(run_dir)
        self.data_cfg = data_cfg or load_data_config(cfg.data_preset)
        self.say = progress or (lambda _m: None)
        self.data_dir = Path(cfg.data_dir) if cfg.data_dir else srcal_home() / "data" / cfg.data_preset
        self.summaries: dict[str, Any] = {}
        self._splits: dict[str, list[BenchmarkItem]] = {}

    # ------------------------------------------------------------------ bookkeeping

    def _write_run_yaml(self) -> None:
        resolved = {"run": self.cfg.to_dict(), "data": asdict(self.data_cfg)}
        path = self.run_dir / "run.yaml"
        if path.is_file():
            import yaml

            existing = yaml.safe_load(path.read_text()) or {}
            if _comparable(existing.get("resolved") or {}) != _comparable(resolved):
                raise RunDirError(
                    f"{self.run_dir} holds a run with another config (see {path}); "
                    "use another --run-dir or remove it"
                )
            return
        from benchmarks.fileio import source_commit
        from calibrate.artifacts import versions

        provenance = {"versions": versions(), "commit": source_commit()}
        doc = {
            "resolved": resolved,
            "provenance": {**provenance, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")},
        }
        self.run_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, _yaml(doc))

    def _stage(self, directory: Path, stage: Stage) -> Artifact:
        """Run ``stage`` in ``directory`` unless it is complete; returns its main output.

        Under a distributed launch (``accelerate launch``: WORLD_SIZE > 1) every rank decides
        together whether the stage is complete; ``stage.mode`` says who runs it: ``main`` (rank 0
        only; the others wait), ``all`` (every rank: trainers, sharded stages). Rank 0 writes the
        manifest and the others read it back, so every rank continues with the same record.
        """
        directory.mkdir(parents=True, exist_ok=True)
        name, cfg_part, inputs = stage.name, stage.config(), stage.inputs()
        digest = stage_digest(stage, self.cfg)
        label = f"{directory.name}/{name}"
        distributed = world_size() > 1
        if distributed:
            wait_for_everyone()
        complete = is_complete(directory, name, digest, inputs)
        if distributed:
            wait_for_everyone()  # every rank has decided before anyone writes
        donor = None if complete else self._donor(directory, name, digest, inputs)
        if complete:
            self.say(f"{label}: up to date, skipped")
        elif donor is not None:
            if is_main_process():
                reuse_stage(donor, directory, name)
            if distributed:
                wait_for_everyone()
            self.say(f"{label}: same config and inputs as {donor}, copied")
        else:
            self._compute(directory, stage, digest, inputs, cfg_part)
        manifest = read_manifest(directory, name) or {}
        self._record(directory, name, manifest.get("summary", {}))
        self.on_stage(directory, name, manifest)
        return Artifact(directory / stage.output, manifest["outputs"][stage.output])

    def _compute(
        self, directory: Path, stage: Stage, digest: str, inputs: dict[str, str], cfg_part: Any
    ) -> None:
        """Run the stage on the ranks its mode names and write its manifest (rank 0; the others wait)."""
        self.say(f"{directory.name}/{stage.name}: running")
        started = time.time()
        if stage.mode == "main" and not is_main_process():
            outputs, summary = [], {}
        else:
            reset_cuda_peak()
            outputs, summary = stage.run()
            peak = cuda_peak_gib()
            if peak is not None:
                summary = {**summary, "peak_cuda_gib": peak}
        if is_main_process():
            manifest = write_manifest(
                directory,
                stage.name,
                digest,
                inputs,
                outputs,
                self.cfg.seed,
                started,
                summary,
                config=cfg_part if isinstance(cfg_part, dict) else None,
            )
            brief = ", ".join(f"{k}={v}" for k, v in summary.items() if not isinstance(v, dict | list))
            self.say(f"{directory.name}/{stage.name}: done in {manifest['seconds']:.1f} s ({brief})")
        if world_size() > 1:
            wait_for_everyone()

    def _record(self, directory: Path, name: str, summary: dict[str, Any]) -> None:
        """Keep a stage's summary: ``summaries[name]`` (data, scorer), else ``summaries[iter_k][name]``."""
        if directory.name == name:
            self.summaries[name] = summary
        else:
            self.summaries.setdefault(directory.name, {})[name] = summary

    def _donor(self, directory: Path, name: str, digest: str, inputs: dict[str, str]) -> Path | None:
        """The ``reuse_from`` directory holding this stage complete with the same hash and inputs, if any."""
        if self.reuse_from is None:
            return None
        try:
            donor = self.reuse_from / directory.relative_to(self.run_dir)
        except ValueError:
            return None
        return donor if is_complete(donor, name, digest, inputs) else None

    # ------------------------------------------------------------------ the run

    def run(self, stop_after: str | None = None) -> dict[str, Any]:
        """Run the method's stages (``stop_after``: stop after that stage); returns every stage's summary."""
        stop_after = STAGE_ALIASES.get(stop_after, stop_after) if stop_after else None
        if stop_after is not None and stop_after not in STAGES:
            raise ConfigError(f"unknown stage {stop_after!r}; expected one of {', '.join(STAGES)}")
        self._write_run_yaml()
        from calibrate.zoo.names import resolve_model

        data = self._data()
        if self.cfg.method != "sft-only" and self.cfg.iterations > 0:
            self._calib_items(1)  # a pool too small for the iterations fails now, not after RFT
        if stop_after == "data":
            return self.summaries
        policy = self._rft(resolve_model(self.cfg.model.base, progress=self.say), data)
        if stop_after == "rft":
            return self.summaries
        self.on_checkpoint("iter_0", policy.path)
        if self.cfg.method == "sft-only":
            return self.summaries
        scorer = self._scorer(policy, data) if self.cfg.method == "src" else None
        if stop_after == "scorer":
            return self.summaries
        for k in range(1, self.cfg.iterations + 1):
            policy = self._iteration(k, policy, data, scorer, stop_after)
            if policy is None:
                break
            self.on_checkpoint(f"iter_{k}", policy.path)
        return self.summaries

    def _data(self) -> dict[str, Any]:
        """The data stage; returns the run's record of the dataset (checked against the cache)."""
        directory = self.run_dir / "data"
        self._stage(directory, DataStage(self.data_cfg, self.data_dir, directory, self.say))
        # The dataset lives in the cache: check it is still the one recorded.
        recorded = json.loads((directory / DataStage.output).read_text())
        current = build_dataset(self.data_cfg, self.data_dir)
        if current["splits"] != recorded["splits"]:
            raise RunDirError(f"the dataset in {self.data_dir} changed since this run started")
        return recorded

    def _items(self, split: str) -> list[BenchmarkItem]:
        """A split's items, read once per run (pools of RFT, scorer and every iteration draw from them)."""
        if split not in self._splits:
            self._splits[split] = read_items(self.data_dir / f"{split}.jsonl")
        return list(self._splits[split])

    def _rft(self, base: str, data: dict[str, Any]) -> Artifact:
        """Stage 1: rationale fine-tuning of ``base``; returns ``iter_0/model``."""
        from calibrate.rationale_sft import RFTStage

        directory = self.run_dir / "iter_0"
        split = data["splits"]["rft"]["sha256"]
        stage = RFTStage(
            self.cfg.rft,
            base,
            self.rft_pool(),
            split,
            self.data_dir,
            directory,
            self.cfg.seed,
            self.cfg.model,
        )
        return self._stage(directory, stage)

    # ------------------------------------------------------------------ pools

    def _ratio(self) -> list[float]:
        return list(self.data_cfg.category_ratio)

    def rft_pool(self) -> list[BenchmarkItem]:
        """RFT's items: ``rft.max_items`` of the rft split, stratified (benchmarks/pools.py)."""
        return stratified_pool(
            self._items("rft"), self.cfg.rft.max_items, self._ratio(), self.cfg.seed, "rft"
        )

    def scorer_pool(self) -> list[BenchmarkItem]:
        """The R-Scorer's items: a stratified draw from the rft items RFT did not train on."""
        trained = {item.id for item in self.rft_pool()}
        pool = self._items("rft")
        rest = [item for item in pool if item.id not in trained] or pool
        return stratified_pool(rest, self.cfg.scorer.train_items, self._ratio(), self.cfg.seed, "scorer")

    def dev_pool(self, n: int) -> list[BenchmarkItem]:
        """A dev slice: ``n`` rft items neither RFT nor the R-Scorer's pool uses, stratified.

        Where settings are chosen (``tools/rft_dev.py``, ``tools/dpo_dev.py``), never on test.
        """
        used = {item.id for item in self.rft_pool()} | {item.id for item in self.scorer_pool()}
        free = [item for item in self._items("rft") if item.id not in used]
        if not free:
            raise ConfigError(
                f"no rft item left for a dev slice: rft.max_items ({self.cfg.rft.max_items}) and "
                f"scorer.train_items ({self.cfg.scorer.train_items}) use the whole rft split"
            )
        return stratified_pool(free, n, self._ratio(), self.cfg.seed, "dev")

    def _calib_items(self, k: int) -> list[BenchmarkItem]:
        """Iteration ``k``'s calibration items: its own disjoint draw (``fresh``) or the same one (``fixed``)."""
        cfg = self.cfg.candidates
        pool = self._items("calib")
        if cfg.iteration_items == "fixed":
            return stratified_pool(pool, cfg.max_items, self._ratio(), self.cfg.seed, "calib")
        size = cfg.max_items if cfg.max_items is not None else len(pool) // self.cfg.iterations
        if size * self.cfg.iterations > len(pool) or size == 0:
            raise ConfigError(
                f"candidates.iteration_items=fresh needs candidates.max_items x iterations = "
                f"{size} x {self.cfg.iterations} calib items, the split has {len(pool)}: lower "
                "candidates.max_items or set candidates.iteration_items=fixed"
            )
        slices = disjoint_slices(pool, size, self.cfg.iterations, self._ratio(), self.cfg.seed, "calib")
        return slices[k - 1]

    def _scorer(self, policy: Artifact, data: dict[str, Any]) -> Artifact | None:
        """The R-Scorer (``src``): the configured adapter, one trained on ``policy``'s candidates, or None (facts)."""
        from calibrate.scorer.train import ScorerStage
        from calibrate.zoo.names import resolve_model

        cfg = self.cfg.scorer
        if cfg.kind == "facts":
            self.say("scorer: the fact judge (an oracle upper bound), nothing to train")
            return None
        if cfg.adapter:
            resolve_model(cfg.backbone)  # build a zoo backbone now, as a trained scorer's would be
            return Artifact(Path(cfg.adapter), str(cfg.adapter))
        directory = self.run_dir / "scorer"
        if world_size() > 1 and read_manifest(directory, ScorerStage.name) is None:
            raise RunDirError(
                "train the R-Scorer in one process first (srcal calibrate ... --stage scorer), "
                "then launch the iterations on several processes"
            )
        stage = ScorerStage(
            cfg,
            self.cfg.candidates,
            policy,
            self.scorer_pool(),
            data["splits"]["rft"]["sha256"],
            self.data_dir,
            directory,
            self.cfg.seed,
            self.cfg.model,
        )
        return self._stage(directory, stage)

    # ------------------------------------------------------------------ iterations

    def _iteration(
        self,
        k: int,
        policy: Artifact,
        data: dict[str, Any],
        scorer: Artifact | None,
        stop_after: str | None,
    ) -> Artifact | None:
        """Iteration k (stages 2-5) from ``policy`` (``iter_{k-1}/model``); its checkpoint, None when stopped."""
        from calibrate.candidates import CandidateStage
        from calibrate.curation import CurationStage
        from calibrate.preference import PreferenceStage
        from calibrate.verdicts import VerdictJob, VerdictStage

        cfg, data_dir, loading, say = self.cfg, self.data_dir, self.cfg.model, self.say
        directory, seed = self.run_dir / f"iter_{k}", self.cfg.seed + k
        items = self._calib_items(k)
        calib_pool = data["splits"]["calib"]["sha256"]

        # 2. candidate search: the policy answers each calibration item several times
        stage2 = CandidateStage(
            cfg.candidates, policy, items, calib_pool, data_dir, directory, seed, loading, say
        )
        candidates = self._stage(directory, stage2)
        if stop_after == "candidates":
            return None
        # 3. verdicts: the method's candidate scorer rates them (src: the R-Scorer, pairwise, both orders)
        job = VerdictJob(cfg, items, candidates, data_dir, policy, scorer, say)
        verdicts = self._stage(directory, VerdictStage(job, directory))
        if stop_after == "verdicts":
            return None
        # 4. curation: one (chosen, rejected) pair per item from the scores, confidence-weighted
        ids = [item.id for item in items]
        pairs = self._stage(
            directory, CurationStage(cfg.curation, cfg.method, ids, candidates, verdicts, directory)
        )
        if stop_after == "curate":
            return None
        # 5. preference: DPO + SFT term on the pairs, reference = the policy (the disabled adapter)
        style = cfg.candidates.prompt_style
        stage5 = PreferenceStage(
            cfg.preference, policy, pairs, items, data_dir, directory, seed, style, loading
        )
        model = self._stage(directory, stage5)
        return None if stop_after == "preference" else model
