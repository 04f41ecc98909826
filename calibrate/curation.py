"""Stage 4: confidence-weighted preference curation (SRC.md; the formula is [ours]).

Input: the candidate sets and one `CandidateScores` record per item (``iter_k/verdicts.jsonl``, written by
the method's candidate scorer, see `calibrate.verdicts`). Per item with candidates 1..N and R-Scorer
verdicts on pairs (i, j), shown in both orders:

- order-debiased win probability ``w_ij = (p_ij(A) + p_ji(B)) / 2`` (and ``w_ji`` alike),
- tie mass ``t_ij = (p_ij(Tie) + p_ji(Tie)) / 2`` and confidence ``k_ij = 1 - t_ij``,
- candidate score ``S_i = sum_j k_ij (w_ij - w_ji) / sum_j k_ij`` (plain mean of
  ``w_ij - w_ji`` when ``confidence_weighting`` is off),
- optionally mixed with the policy's self-confidence ``c_i`` (mean token probability of its
  response): ``S_i + lambda_c * c_i``,
- gate: where a gold answer exists the chosen candidate must be correct,
- chosen = argmax S, rejected = argmin S (among the others), margin = S_chosen - S_rejected;
  the item is dropped when the margin is below ``tau``;
- [ours] with ``pairs_per_item`` > 1, more pairs of a kept item: every (eligible i, other j) with
  ``S_i - S_j >= tau`` (and > 0), largest margin first, up to ``pairs_per_item`` in all.

The same function curates the baselines: their records carry ``direct`` scores (answer correctness
for ``outcome-dpo``, a self-reward for ``csr-style``) that stand for ``S_i`` as they are.

The stage's entry point is :class:`CurationStage` (reads candidates and verdicts, writes ``pairs.jsonl``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar

from calibrate.artifacts import Artifact
from calibrate.config import CurationConfig
from calibrate.records import (
    Candidate,
    CandidateScores,
    CandidateSet,
    PreferencePair,
    read_records,
    write_records,
)


@dataclass
class CurationOutcome:
    pairs: list[PreferencePair]
    """The item's kept pairs, the paper's (best vs worst) first; empty when dropped."""
    reason: str
    """``kept``, ``too_few_candidates``, ``no_correct_candidate``, ``below_tau``."""

    @property
    def pair(self) -> PreferencePair | None:
        """The paper's pair: the best eligible candidate against the worst other."""
        return self.pairs[0] if self.pairs else None


def scores_from_verdicts(
    record: CandidateScores, candidate_ids: list[int], weighted: bool
) -> dict[int, float]:
    """``S_i`` for every candidate from the pairwise verdicts (both orders where present)."""
    num: dict[int, float] = {i: 0.0 for i in candidate_ids}
    den: dict[int, float] = {i: 0.0 for i in candidate_ids}
    for v in record.verdicts:
        if v.a not in num or v.b not in num:
            continue
        if v.p_ba:
            w_ab = (v.p_ab[0] + v.p_ba[1]) / 2  # a wins when shown first, or b loses when shown first
            w_ba = (v.p_ab[1] + v.p_ba[0]) / 2
            tie = (v.p_ab[2] + v.p_ba[2]) / 2
        else:
            w_ab, w_ba, tie = v.p_ab[0], v.p_ab[1], v.p_ab[2]
        k = (1.0 - tie) if weighted else 1.0
        num[v.a] += k * (w_ab - w_ba)
        num[v.b] += k * (w_ba - w_ab)
        den[v.a] += k
        den[v.b] += k
    return {i: (num[i] / den[i] if den[i] > 0 else 0.0) for i in candidate_ids}


def self_confidence(candidate: Candidate) -> float:
    """The policy's own confidence in a response: its mean token probability."""
    return math.exp(candidate.mean_logprob) if candidate.num_tokens else 0.0


def curate_item(
    candidate_set: CandidateSet,
    scores: Mapping[int, float],
    cfg: CurationConfig,
    method: str = "src",
) -> CurationOutcome:
    """Pick (chosen, rejected) for one item from per-candidate scores."""
    cands = {c.candidate_id: c for c in candidate_set.candidates}
    if len(cands) < 2:
        return CurationOutcome([], "too_few_candidates")
    total = {i: scores[i] + cfg.lambda_c * self_confidence(c) for i, c in cands.items()}
    eligible = (
        [i for i, c in cands.items() if c.correct or c.correct is None]
        if cfg.require_correct
        else list(cands)
    )
    if not eligible:
        return CurationOutcome([], "no_correct_candidate")
    chosen = max(eligible, key=lambda i: (total[i], -i))
    others = [i for i in cands if i != chosen]
    rejected = min(others, key=lambda i: (total[i], i))
    margin = total[chosen] - total[rejected]
    if margin < cfg.tau:
        return CurationOutcome([], "below_tau")
    extra = sorted(
        (
            (total[i] - total[j], i, j)
            for i in eligible
            for j in cands
            if j != i and (i, j) != (chosen, rejected) and total[i] - total[j] >= max(cfg.tau, 1e-9)
        ),
        key=lambda t: (-t[0], t[1], t[2]),
    )[: cfg.pairs_per_item - 1]
    chosen_rejected = [(chosen, rejected, margin)] + [(i, j, m) for m, i, j in extra]
    pairs = [
        PreferencePair(
            item_id=candidate_set.item_id,
            chosen_id=i,
            rejected_id=j,
            chosen=cands[i].text,
            rejected=cands[j].text,
            margin=round(m, 6),
            scores={str(k): round(s, 6) for k, s in total.items()},
            method=method,
        )
        for i, j, m in chosen_rejected
    ]
    return CurationOutcome(pairs, "kept")


def candidate_scores(record: CandidateScores, candidate_ids: list[int], weighted: bool) -> dict[int, float]:
    """``S_i`` for every candidate: aggregated from the record's verdicts, or its ``direct`` scores as they are."""
    if record.mode == "direct":
        return {int(i): s for i, s in record.scores.items()}
    return scores_from_verdicts(record, candidate_ids, weighted)


def curate(
    candidate_sets: list[CandidateSet],
    scores: Mapping[str, CandidateScores],
    cfg: CurationConfig,
    method: str = "src",
) -> tuple[list[PreferencePair], dict[str, Any]]:
    """Curate every item from its `CandidateScores`; returns the kept pairs and counts of why items were dropped.

    ``method`` names the pairs' origin (`PreferencePair.method`); an item without a record is ``not_scored``.
    """
    pairs: list[PreferencePair] = []
    reasons: dict[str, int] = {}
    for cs in candidate_sets:
        record = scores.get(cs.item_id)
        if record is None:
            reasons["not_scored"] = reasons.get("not_scored", 0) + 1
            continue
        ids = [c.candidate_id for c in cs.candidates]
        outcome = curate_item(cs, candidate_scores(record, ids, cfg.confidence_weighting), cfg, method)
        reasons[outcome.reason] = reasons.get(outcome.reason, 0) + 1
        pairs.extend(outcome.pairs)
    margins = [p.margin for p in pairs]
    summary = {
        "items": len(candidate_sets),
        "pairs_kept": len(pairs),
        "items_kept": len({p.item_id for p in pairs}),
        "reasons": dict(sorted(reasons.items())),
        "mean_margin": round(sum(margins) / len(margins), 4) if margins else None,
    }
    return pairs, summary


@dataclass
class CurationStage:
    """Stage 4's entry point: the candidates and their verdicts of ``item_ids`` into ``directory/pairs.jsonl``."""

    cfg: CurationConfig
    method: str
    item_ids: list[str]
    """The calibration items, in their fixed order (the pairs' order)."""
    candidates: Artifact
    """``iter_k/candidates.jsonl``."""
    verdicts: Artifact
    """``iter_k/verdicts.jsonl``."""
    directory: Path
    """The iteration's directory (``iter_k``)."""

    name: ClassVar[str] = "curate"
    output: ClassVar[str] = "pairs.jsonl"
    mode: ClassVar[str] = "main"

    def config(self) -> dict[str, Any]:
        return asdict(self.cfg)

    def inputs(self) -> dict[str, str]:
        return {"candidates": self.candidates.hash, "verdicts": self.verdicts.hash}

    def run(self) -> tuple[list[str], dict[str, Any]]:
        sets = read_records(CandidateSet, self.candidates.path, self.item_ids)
        scores = {r.item_id: r for r in read_records(CandidateScores, self.verdicts.path, self.item_ids)}
        pairs, summary = curate(sets, scores, self.cfg, self.method)
        write_records(self.directory / self.output, pairs)
        return [self.output], summary
