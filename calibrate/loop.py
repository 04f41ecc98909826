"""The SRC iteration driver: ``srcal calibrate``.

Run directory::

    <run_dir>/run.yaml                 resolved config (every default explicit) + provenance
    <run_dir>/data/manifest.json       the dataset this run trains on (path, hashes, counts)
    <run_dir>/iter_0/                  stage 1 (RFT): adapter/, model/, rft.manifest.json
    <run_dir>/scorer/                  the R-Scorer's training candidates, labels, adapter/
    <run_dir>/iter_k/ (k = 1..K)       candidates.jsonl, judgements.jsonl, pairs.jsonl,
                                       adapter/, model/ and one manifest per stage

Each stage is skipped when its manifest matches its config and inputs and its outputs
still hash as recorded; an interrupted per-item stage (candidates, judgements) resumes
at the first missing item; training stages restart and write atomically. Iteration k
starts from ``iter_{k-1}/model`` (adapter merged, lineage in each adapter's record).

Methods (same driver, different stage 3/4): ``src`` (R-Scorer, confidence-weighted
curation), ``sft-only`` (iteration 0 only), ``outcome-dpo`` (chosen/rejected by answer
correctness, no scorer), ``csr-style`` (the policy's own likelihood mixed with an
image-relevance term, see :mod:`calibrate.baselines`). Ablations are config fields
(``scorer.mode=pointwise``, ``curation.confidence_weighting=false``,
``candidates.strategy=sentence_search``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from benchmarks.build import DataConfig, build_dataset, load_data_config
from benchmarks.configuration import ConfigError, RunDirError
from benchmarks.fileio import atomic_write_json, atomic_write_text, srcal_home
from benchmarks.records import BenchmarkItem, read_items
from calibrate.artifacts import (
    ItemLog,
    config_hash,
    cuda_peak_gib,
    is_complete,
    read_manifest,
    reset_cuda_peak,
    reuse_stage,
    write_manifest,
)
from calibrate.checkpoints import is_main_process, rank, wait_for_everyone, world_size
from calibrate.config import RunConfig, result_fields

STAGES = ("data", "rft", "scorer", "candidates", "judge", "curate", "preference")
METHOD_FREE_STAGES = ("data", "rft", "candidates")
"""Stages whose result does not depend on the method: a baseline's equal stage is the SRC run's."""
Progress = Callable[[str], None]


def _yaml(data: dict[str, Any]) -> str:
    import yaml

    return yaml.safe_dump(data, sort_keys=False)


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
    ) -> None:
        """``on_checkpoint(name, model_dir)`` is called as each checkpoint lands (``iter_0``, ``iter_1``, ...).

        ``reuse_from``: another run directory (a baseline's SRC run) whose completed method-free
        stages are copied instead of recomputed when their config hash and inputs are equal
        (a baseline's iteration-1 candidates come from the same iter_0 policy, seed and items).
        """
        self.cfg = cfg
        self.reuse_from = Path(reuse_from) if reuse_from is not None else None
        self.on_checkpoint = on_checkpoint or (lambda _n, _d: None)
        self.run_dir = Path(run_dir)
        self.data_cfg = data_cfg or load_data_config(cfg.data_preset)
        self.say = progress or (lambda _m: None)
        self.data_dir = Path(cfg.data_dir) if cfg.data_dir else srcal_home() / "data" / cfg.data_preset
        self.summaries: dict[str, Any] = {}

    # ------------------------------------------------------------------ bookkeeping

    def _write_run_yaml(self) -> None:
        resolved = {"run": self.cfg.to_dict(), "data": asdict(self.data_cfg)}
        path = self.run_dir / "run.yaml"
        if path.is_file():
            import yaml

            existing = yaml.safe_load(path.read_text()) or {}
            if existing.get("resolved") != resolved:
                raise RunDirError(
                    f"{self.run_dir} holds a run with another config (see {path}); "
                    "use another --run-dir or remove it"
                )
            return
        from calibrate.artifacts import versions

        doc = {
            "resolved": resolved,
            "provenance": {"versions": versions(), "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")},
        }
        self.run_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, _yaml(doc))

    def _stage(
        self,
        directory: Path,
        name: str,
        cfg_part: Any,
        inputs: dict[str, str],
        fn: Callable[[], tuple[list[str], dict]],
        mode: str = "main",
    ) -> dict[str, Any]:
        """Run ``fn`` unless the stage is complete; ``fn`` returns (output names, summary).

        Under a distributed launch (``accelerate launch``: WORLD_SIZE > 1) every rank decides
        together whether the stage is complete; ``mode`` says who runs ``fn``: ``main`` (rank 0
        only; the others wait), ``all`` (every rank: trainers, sharded stages). Rank 0 writes the
        manifest and the others read it back, so every rank continues with the same record.
        """
        directory.mkdir(parents=True, exist_ok=True)
        # data, RFT and candidate search do not depend on the method (baselines reuse them)
        method = None if name in METHOD_FREE_STAGES else self.cfg.method
        hashed = result_fields(cfg_part)
        digest = config_hash({"stage": name, "config": hashed, "seed": self.cfg.seed, "method": method})
        label = f"{directory.name}/{name}"
        distributed = world_size() > 1
        if distributed:
            wait_for_everyone()
        complete = is_complete(directory, name, digest, inputs)
        if distributed:
            wait_for_everyone()  # every rank has decided before anyone writes
        if complete:
            manifest = read_manifest(directory, name) or {}
            self.say(f"{label}: up to date, skipped")
            return manifest
        donor = self._donor(directory, name, digest, inputs)
        if donor is not None:
            if is_main_process():
                reuse_stage(donor, directory, name)
            if distributed:
                wait_for_everyone()
            self.say(f"{label}: same config and inputs as {donor}, copied")
            return read_manifest(directory, name) or {}
        self.say(f"{label}: running")
        started = time.time()
        if mode == "main" and not is_main_process():
            outputs, summary = [], {}
        else:
            reset_cuda_peak()
            outputs, summary = fn()
            peak = cuda_peak_gib()
            if peak is not None:
                summary = {**summary, "peak_cuda_gib": peak}
        manifest: dict[str, Any] = {"outputs": {}, "summary": summary}
        if is_main_process():
            manifest = write_manifest(
                directory,
                name,
                digest,
                inputs,
                outputs,
                self.cfg.seed,
                started,
                summary,
                config=cfg_part if isinstance(cfg_part, dict) else None,
            )
            brief = ", ".join(f"{k}={v}" for k, v in summary.items() if not isinstance(v, dict | list))
            self.say(f"{label}: done in {manifest['seconds']:.1f} s ({brief})")
        if distributed:
            wait_for_everyone()
            if not is_main_process():
                manifest = read_manifest(directory, name) or manifest
        return manifest

    def _donor(self, directory: Path, name: str, digest: str, inputs: dict[str, str]) -> Path | None:
        """The ``reuse_from`` directory holding this stage complete with the same hash and inputs, if any."""
        if self.reuse_from is None or name not in METHOD_FREE_STAGES:
            return None
        try:
            donor = self.reuse_from / directory.relative_to(self.run_dir)
        except ValueError:
            return None
        return donor if is_complete(donor, name, digest, inputs) else None

    @staticmethod
    def _merge_shards(directory: Path, stem: str, ids: list[str]) -> list[dict[str, Any]]:
        """Join the ranks' ``<stem>.rank<r>.jsonl`` logs into ``<stem>.jsonl`` (item order; rank 0 writes)."""
        wait_for_everyone()
        if is_main_process():
            records: dict[str, dict[str, Any]] = {}
            shards = sorted(directory.glob(f"{stem}.rank*.jsonl"))
            for shard in shards:
                records.update(ItemLog(shard).records)
            lines = [
                json.dumps(records[i], ensure_ascii=False, sort_keys=True) + "\n" for i in ids if i in records
            ]
            atomic_write_text(directory / f"{stem}.jsonl", "".join(lines))
            for shard in shards:
                shard.unlink()
        wait_for_everyone()
        return ItemLog(directory / f"{stem}.jsonl").ordered(ids)

    @staticmethod
    def _out(manifest: dict[str, Any], name: str) -> str:
        return manifest["outputs"][name]

    # ------------------------------------------------------------------ the run

    def run(self, stop_after: str | None = None) -> dict[str, Any]:
        if stop_after is not None and stop_after not in STAGES:
            raise ConfigError(f"unknown stage {stop_after!r}; expected one of {', '.join(STAGES)}")
        self._write_run_yaml()
        from calibrate.zoo.names import resolve_model

        data = self._data()
        if stop_after == "data":
            return self.summaries
        base = resolve_model(self.cfg.model.base, progress=self.say)
        rft = self._rft(base, data)
        previous = rft
        if stop_after == "rft":
            return self.summaries
        self.on_checkpoint("iter_0", Path(rft["model_dir"]))
        if self.cfg.method == "sft-only":
            return self.summaries
        scorer = self._scorer(rft, data) if self.cfg.method == "src" else None
        if stop_after == "scorer":
            return self.summaries
        for k in range(1, self.cfg.iterations + 1):
            previous = self._iteration(k, previous, data, scorer, stop_after)
            if previous is None:
                break
            self.on_checkpoint(f"iter_{k}", Path(previous["model_dir"]))
        return self.summaries

    def _data(self) -> dict[str, Any]:
        def build() -> tuple[list[str], dict]:
            manifest = build_dataset(self.data_cfg, self.data_dir, progress=self.say)
            atomic_write_json(
                self.run_dir / "data" / "manifest.json", {"path": str(self.data_dir), **manifest}
            )
            counts = {s: v["count"] for s, v in manifest["splits"].items()}
            return ["manifest.json"], {"data_dir": str(self.data_dir), **counts}

        manifest = self._stage(self.run_dir / "data", "data", asdict(self.data_cfg), {}, build)
        # The dataset lives in the cache: check it is still the one recorded.
        recorded = json.loads((self.run_dir / "data" / "manifest.json").read_text())
        current = build_dataset(self.data_cfg, self.data_dir)
        if current["splits"] != recorded["splits"]:
            raise RunDirError(f"the dataset in {self.data_dir} changed since this run started")
        self.summaries["data"] = manifest.get("summary", {})
        return recorded

    def _items(self, split: str) -> list[BenchmarkItem]:
        return read_items(self.data_dir / f"{split}.jsonl")

    def _rft(self, base: str, data: dict[str, Any]) -> dict[str, Any]:
        from calibrate.rationale_sft import train_rft

        directory = self.run_dir / "iter_0"

        def train() -> tuple[list[str], dict]:
            summary = train_rft(
                base, self.data_dir, self.cfg.rft, directory, self.cfg.seed, self.cfg.model.dtype
            )
            return ["adapter", "model"], summary

        inputs = {"base": base, "rft_pool": data["splits"]["rft"]["sha256"]}
        manifest = self._stage(directory, "rft", asdict(self.cfg.rft), inputs, train, mode="all")
        self.summaries["iter_0"] = {"rft": manifest.get("summary", {})}
        return manifest | {"model_dir": str(directory / "model")}

    # ------------------------------------------------------------------ R-Scorer

    def _scorer(self, rft: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
        from calibrate.scorer.labels import training_examples
        from calibrate.scorer.train import train_scorer
        from calibrate.zoo.names import resolve_model

        cfg = self.cfg.scorer
        directory = self.run_dir / "scorer"
        if cfg.adapter:
            return {"adapter": cfg.adapter, "backbone": resolve_model(cfg.backbone)}

        pool = self._items("rft")
        used = self.cfg.rft.max_items if self.cfg.rft.max_items is not None else 0
        train_pool = (pool[used:] or pool)[: cfg.train_items]

        def train() -> tuple[list[str], dict]:
            from calibrate.candidates import generate_candidates
            from calibrate.models import load_model
            from calibrate.records import CandidateSet

            policy = load_model(rft["model_dir"], dtype=self.cfg.model.dtype)
            cand_path = directory / "train_candidates.jsonl"
            generate_candidates(
                policy, train_pool, self.data_dir, self.cfg.candidates, cand_path, self.cfg.seed
            )
            del policy
            sets = [CandidateSet.from_dict(r) for r in ItemLog(cand_path).ordered([i.id for i in train_pool])]
            examples = training_examples(train_pool, sets, cfg, cfg.labels)
            summary = train_scorer(cfg, examples, directory / "adapter", self.cfg.seed)
            return ["train_candidates.jsonl", "adapter"], summary

        inputs = {"policy": self._out(rft, "model"), "rft_pool": data["splits"]["rft"]["sha256"]}
        part = {"scorer": asdict(cfg), "candidates": asdict(self.cfg.candidates)}
        if world_size() > 1 and read_manifest(directory, "scorer") is None:
            raise RunDirError(
                "train the R-Scorer in one process first (srcal calibrate ... --stage scorer), "
                "then launch the iterations on several processes"
            )
        manifest = self._stage(directory, "scorer", part, inputs, train)
        self.summaries["scorer"] = manifest.get("summary", {})
        return {"adapter": str(directory / "adapter"), "manifest": manifest}

    # ------------------------------------------------------------------ iterations

    def _iteration(
        self,
        k: int,
        previous: dict[str, Any],
        data: dict[str, Any],
        scorer: dict[str, Any] | None,
        stop_after: str | None,
    ) -> dict[str, Any] | None:
        from calibrate.candidates import generate_candidates
        from calibrate.curation import curate
        from calibrate.models import load_model
        from calibrate.preference import train_preference
        from calibrate.records import CandidateSet, Judgement, PreferencePair

        directory = self.run_dir / f"iter_{k}"
        summaries: dict[str, Any] = {}
        self.summaries[f"iter_{k}"] = summaries
        calib = self._items("calib")
        if self.cfg.candidates.max_items is not None:
            calib = calib[: self.cfg.candidates.max_items]
        ids = [i.id for i in calib]
        by_id = {i.id: i for i in calib}
        seed = self.cfg.seed + k
        policy_hash = self._out(previous, "model")
        model_dir = previous["model_dir"]

        def candidates() -> tuple[list[str], dict]:
            from calibrate.candidates import summarize

            policy = load_model(model_dir, dtype=self.cfg.model.dtype)
            if world_size() == 1:
                summary = generate_candidates(
                    policy,
                    calib,
                    self.data_dir,
                    self.cfg.candidates,
                    directory / "candidates.jsonl",
                    seed,
                    progress=self.say,
                )
                return ["candidates.jsonl"], summary
            # batch b goes to rank b % world_size and is seeded from (seed, b): the merged file
            # equals a single process's
            generate_candidates(
                policy,
                calib,
                self.data_dir,
                self.cfg.candidates,
                directory / f"candidates.rank{rank()}.jsonl",
                seed,
                progress=self.say,
                rank=rank(),
                world_size=world_size(),
            )
            merged = self._merge_shards(directory, "candidates", ids)
            summary = summarize([CandidateSet.from_dict(r) for r in merged])
            return ["candidates.jsonl"], {**summary, "processes": world_size()}

        cand = self._stage(
            directory,
            "candidates",
            asdict(self.cfg.candidates),
            {"policy": policy_hash, "calib_pool": data["splits"]["calib"]["sha256"]},
            candidates,
            mode="all",
        )
        summaries["candidates"] = cand.get("summary", {})
        if stop_after == "candidates":
            return None
        sets = [CandidateSet.from_dict(r) for r in ItemLog(directory / "candidates.jsonl").ordered(ids)]

        judgements: dict[str, Judgement] | None = None
        extra_scores = None
        judge_hash = ""
        if self.cfg.method == "src":

            def judge() -> tuple[list[str], dict]:
                from calibrate.scorer.labels import agreement_with_facts
                from calibrate.scorer.model import RScorer

                rscorer = RScorer.from_config(self.cfg.scorer, adapter=scorer["adapter"] if scorer else None)
                if world_size() == 1:
                    summary = rscorer.judge(calib, sets, directory / "judgements.jsonl", progress=self.say)
                else:  # items i % world_size go to rank i
                    mine = [it for i, it in enumerate(calib) if i % world_size() == rank()]
                    shard = directory / f"judgements.rank{rank()}.jsonl"
                    summary = rscorer.judge(mine, sets, shard, progress=self.say)
                    summary = {
                        "items": len(self._merge_shards(directory, "judgements", ids)),
                        "processes": world_size(),
                    }
                judged = [
                    Judgement.from_dict(r) for r in ItemLog(directory / "judgements.jsonl").ordered(ids)
                ]
                summary.update(agreement_with_facts(calib, sets, judged))
                return ["judgements.jsonl"], summary

            scorer_id = (
                (scorer or {})
                .get("manifest", {})
                .get("outputs", {})
                .get("adapter", str((scorer or {}).get("adapter")))
            )
            jm = self._stage(
                directory,
                "judge",
                asdict(self.cfg.scorer),
                {"candidates": self._out(cand, "candidates.jsonl"), "scorer": scorer_id},
                judge,
                mode="all",
            )
            summaries["judge"] = jm.get("summary", {})
            judge_hash = self._out(jm, "judgements.jsonl")
            judgements = {
                r["item_id"]: Judgement.from_dict(r)
                for r in ItemLog(directory / "judgements.jsonl").ordered(ids)
            }
        elif self.cfg.method == "csr-style":
            from calibrate.baselines import csr_scores

            def self_reward() -> tuple[list[str], dict]:
                policy = load_model(model_dir, dtype=self.cfg.model.dtype)
                scores = csr_scores(policy, calib, sets, self.data_dir, self.cfg.candidates.prompt_style)
                atomic_write_json(directory / "self_rewards.json", scores)
                return ["self_rewards.json"], {"items": len(scores)}

            sm = self._stage(
                directory,
                "judge",
                {"csr": True},
                {"candidates": self._out(cand, "candidates.jsonl")},
                self_reward,
            )
            judge_hash = self._out(sm, "self_rewards.json")
            raw = json.loads((directory / "self_rewards.json").read_text())
            extra_scores = {item: {int(c): v for c, v in scores.items()} for item, scores in raw.items()}
        if stop_after == "judge":
            return None

        def curate_stage() -> tuple[list[str], dict]:
            pairs, summary = curate(sets, judgements, self.cfg.curation, self.cfg.method, extra_scores)
            atomic_write_text(
                directory / "pairs.jsonl",
                "".join(json.dumps(p.to_dict(), sort_keys=True) + "\n" for p in pairs),
            )
            return ["pairs.jsonl"], summary

        cm = self._stage(
            directory,
            "curate",
            asdict(self.cfg.curation),
            {"candidates": self._out(cand, "candidates.jsonl"), "judgements": judge_hash},
            curate_stage,
        )
        summaries["curate"] = cm.get("summary", {})
        if stop_after == "curate":
            return None
        pairs = [
            PreferencePair.from_dict(json.loads(line))
            for line in (directory / "pairs.jsonl").read_text().splitlines()
        ]

        def preference() -> tuple[list[str], dict]:
            if not pairs:
                from calibrate.checkpoints import copy_checkpoint

                copy_checkpoint(Path(model_dir), directory)
                return ["model"], {"pairs": 0, "note": "no pairs kept: the checkpoint is the previous model"}
            summary = train_preference(
                model_dir,
                pairs,
                by_id,
                self.data_dir,
                self.cfg.preference,
                directory,
                seed,
                self.cfg.candidates.prompt_style,
                self.cfg.model.dtype,
            )
            return ["adapter", "model"], summary

        pm = self._stage(
            directory,
            "preference",
            asdict(self.cfg.preference),
            {"policy": policy_hash, "pairs": self._out(cm, "pairs.jsonl")},
            preference,
            mode="all",
        )
        summaries["preference"] = pm.get("summary", {})
        if stop_after == "preference":
            return None
        return pm | {"model_dir": str(directory / "model")}
