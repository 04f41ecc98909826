"""Stage 3, verdicts: every calibration item's candidates rated by the method's candidate scorer.

Whatever the method, one record type comes out: a :class:`calibrate.records.CandidateScores` per item
in ``iter_k/verdicts.jsonl`` (an :class:`calibrate.artifacts.ItemLog`: resumable per item), and
curation reads only that. The scorer is looked up by method in :data:`SCORERS`:

- ``src``: the R-Scorer's verdicts on pairs of candidates, both orders
  (`calibrate.scorer.model.RScorerVerdicts`; records of mode ``pairwise``, or ``pointwise``).
- ``csr-style``: the policy's CSR-style self-reward (`calibrate.baselines.SelfReward`; mode ``direct``).
- ``outcome-dpo``: answer correctness (`calibrate.baselines.OutcomeCorrectness`; mode ``direct``).

A later judge is one more entry: a :class:`CandidateScorer` registered under its method's name.
``sft-only`` has no iterations, hence no scorer.

The stage's entry point is :class:`VerdictStage`: under a distributed launch items ``i % world_size``
go to rank ``i``, each rank logs to its shard and rank 0 merges them (item order).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from benchmarks.records import BenchmarkItem
from benchmarks.registry import Registry
from calibrate.artifacts import Artifact, merge_shards, shard_path
from calibrate.records import CandidateScores, CandidateSet, read_records

if TYPE_CHECKING:
    from calibrate.config import RunConfig

Progress = Callable[[str], None]


@dataclass
class VerdictJob:
    """What a candidate scorer reads: the typed inputs of one iteration's verdicts stage."""

    cfg: RunConfig
    """The run's config (a scorer reads its own sections: ``scorer``, ``candidates``, ``model``)."""
    items: list[BenchmarkItem]
    """The calibration items, in their fixed order."""
    candidates: Artifact
    """``iter_k/candidates.jsonl``."""
    data_dir: Path
    """The dataset directory holding the images."""
    policy: Artifact
    """The checkpoint that generated the candidates (``iter_{k-1}/model``)."""
    scorer: Artifact | None = None
    """The R-Scorer's adapter (``src``)."""
    progress: Progress | None = None

    @cached_property
    def candidate_sets(self) -> list[CandidateSet]:
        """The items' candidate sets, in item order (read once, when a scorer first needs them)."""
        return read_records(CandidateSet, self.candidates.path, [item.id for item in self.items])


class CandidateScorer:
    """An entry of :data:`SCORERS`: one method's way of rating candidates, as `CandidateScores` records."""

    method: ClassVar[str]
    """Its key in :data:`SCORERS` (`CandidateScores.method` of its records)."""

    def __init__(self, job: VerdictJob) -> None:
        self.job = job

    def config(self) -> dict[str, Any]:
        """The config the stage hash covers."""
        raise NotImplementedError

    def inputs(self) -> dict[str, str]:
        """Hashes of what the scores depend on beyond the candidates (a model, an adapter)."""
        return {}

    def score(self, items: Sequence[BenchmarkItem], out: Path) -> dict[str, Any]:
        """Log a `CandidateScores` per item of ``items`` (with candidates) to the `ItemLog` at ``out``.

        Items already logged are kept; the file ends in item order. Returns a summary.
        """
        raise NotImplementedError

    def summarize(self, records: list[CandidateScores]) -> dict[str, Any]:
        """Figures over every item's records, added to the stage summary (after shards merge)."""
        return {}


SCORERS: Registry[type[CandidateScorer]] = Registry("candidate scorer")
"""Candidate scorers by method (lazy ``module:attr`` targets)."""
SCORERS.register("src", "calibrate.scorer.model:RScorerVerdicts")
SCORERS.register("csr-style", "calibrate.baselines:SelfReward")
SCORERS.register("outcome-dpo", "calibrate.baselines:OutcomeCorrectness")


@dataclass
class VerdictStage:
    """Stage 3's entry point: ``job.cfg.method``'s candidate scorer into ``directory/verdicts.jsonl``."""

    job: VerdictJob
    directory: Path
    """The iteration's directory (``iter_k``)."""

    name: ClassVar[str] = "verdicts"
    output: ClassVar[str] = "verdicts.jsonl"
    mode: ClassVar[str] = "all"

    @cached_property
    def scorer(self) -> CandidateScorer:
        return SCORERS.get(self.job.cfg.method)(self.job)

    def config(self) -> dict[str, Any]:
        return self.scorer.config()

    def inputs(self) -> dict[str, str]:
        return {"candidates": self.job.candidates.hash, **self.scorer.inputs()}

    def run(self) -> tuple[list[str], dict[str, Any]]:
        from calibrate.checkpoints import own_indices, rank, world_size

        out = self.directory / self.output
        items = self.job.items
        ids = [item.id for item in items]
        if world_size() == 1:
            summary = self.scorer.score(items, out)
        else:
            mine = [items[i] for i in own_indices(len(items))]
            self.scorer.score(mine, shard_path(out, rank()))
            summary = {"items": len(merge_shards(out, ids)), "processes": world_size()}
        records = read_records(CandidateScores, out, ids)
        return [self.output], {**summary, **self.scorer.summarize(records)}
