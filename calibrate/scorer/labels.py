"""The R-Scorer's labels: labelled pairs, fact labels, external label files and label hygiene.

Record. A `LabelledPair` is one pairwise label: an item, the candidate shown first (``a``), the one shown
second (``b``) and the verdict (A / B / Tie, relative to that order).

Fact labels. On data with structured facts, `fact_score` (answer correctness dominant, plus the share of
the suite's checked rationale claims that are true) and `fact_label` make a programmatic teacher whose
labels are symmetric by construction; `read_labels` reads an external judge's labels instead.

Training examples. `training_examples` builds the scorer's training pairs from a run's inputs (items and
their candidate sets, or an external label file): the one path used by the calibration loop and by
``srcal scorer train``. `consistent_examples` keeps labels consistent under both orders,
`split_heldout` splits held-out items deterministically and `balance_labels` cuts the majority verdict.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.records import BenchmarkItem
from calibrate.config import ScorerConfig
from calibrate.records import Candidate, CandidateScores, CandidateSet, PairVerdict
from calibrate.scorer.model import VERDICTS, select_pairs

ANSWER_WEIGHT = 1.0
CLAIM_WEIGHT = 0.5
FACT_MARGIN = 0.05


class LabelError(ValueError):
    """A malformed label file line (the message names file and line)."""


@dataclass(frozen=True)
class LabelledPair:
    """One pairwise label of the R-Scorer: which of two responses to ``item`` is better, in the order shown."""

    item: BenchmarkItem
    """The item both responses answer (its question and reference go into the prompt)."""
    a: Candidate
    """The candidate shown first (``Response A``)."""
    b: Candidate
    """The candidate shown second (``Response B``)."""
    verdict: str
    """One of `VERDICTS`: "A" (``a`` is better), "B" (``b`` is better) or "Tie"."""

    @property
    def shown(self) -> tuple[BenchmarkItem, Candidate, Candidate]:
        """(item, first shown, second shown): the scorer's task for this label."""
        return self.item, self.a, self.b

    def mirrored(self) -> LabelledPair:
        """The same label with the order swapped (A and B exchanged, Tie kept)."""
        return LabelledPair(self.item, self.b, self.a, _mirror(self.verdict))


def _mirror(label: str) -> str:
    return {"A": "B", "B": "A"}.get(label, label)


# --------------------------------------------------------------------------- fact labels


def _is_correct(item: BenchmarkItem, candidate: Candidate) -> bool:
    if candidate.correct is not None:
        return bool(candidate.correct)
    if not item.answer:
        return False
    from benchmarks.scoring import answers_match

    try:
        return answers_match(candidate.final_answer, item.answer, item.answer_type, item.choices)
    except ValueError:
        return False


def claim_share(item: BenchmarkItem, candidate: Candidate) -> float:
    """Share of the suite's checked claims in the rationale that the facts support (0 without claims)."""
    from benchmarks.registry import SUITES

    if not item.facts or item.suite not in SUITES:
        return 0.0
    checks = SUITES.get(item.suite).check_rationale(candidate.rationale or candidate.text, item.facts)
    return sum(c.true for c in checks) / len(checks) if checks else 0.0


def require_facts(items: Sequence[BenchmarkItem], use: str) -> None:
    """Refuse items the fact judge cannot read: those of public training sources carry no facts
    (`benchmarks.public_pools`); ``use`` says what needed the judge, the message what to do instead."""
    from benchmarks.registry import SUITES

    public = sorted({item.suite for item in items if item.suite not in SUITES})
    if public:
        n = sum(item.suite not in SUITES for item in items)
        raise LabelError(
            f"{use}: {n} of {len(items)} items come from public training sources ({', '.join(public)}) and carry "
            "no structured facts, so the fact judge cannot label them; label the candidates with a served judge "
            "(srcal teacher labels --candidates RUN/scorer/train_candidates.jsonl) and set scorer.labels to that file"
        )


def fact_score(item: BenchmarkItem, candidate: Candidate) -> float:
    """ANSWER_WEIGHT x correct + CLAIM_WEIGHT x share of true checked claims (correctness dominates)."""
    return ANSWER_WEIGHT * _is_correct(item, candidate) + CLAIM_WEIGHT * claim_share(item, candidate)


def fact_label(item: BenchmarkItem, a: Candidate, b: Candidate, margin: float = FACT_MARGIN) -> str:
    """ "A" if ``a`` (shown first) scores more than ``margin`` above ``b``, "B" if below, else "Tie"."""
    diff = fact_score(item, a) - fact_score(item, b)
    return "A" if diff > margin else "B" if diff < -margin else "Tie"


def fact_examples(
    items: Sequence[BenchmarkItem],
    candidate_sets: Iterable[CandidateSet],
    max_pairs_per_item: int | None = None,
    margin: float = FACT_MARGIN,
) -> list[LabelledPair]:
    """Both orders of each selected pair, labelled by `fact_label`."""
    sets = {cs.item_id: cs for cs in candidate_sets}
    out: list[LabelledPair] = []
    for item in items:
        cands = {c.candidate_id: c for c in sets[item.id].candidates} if item.id in sets else {}
        for a, b in select_pairs(list(cands), max_pairs_per_item):
            out.append(LabelledPair(item, cands[a], cands[b], fact_label(item, cands[a], cands[b], margin)))
            out.append(LabelledPair(item, cands[b], cands[a], fact_label(item, cands[b], cands[a], margin)))
    return out


ONE_HOT = {"A": [1.0, 0.0, 0.0], "B": [0.0, 1.0, 0.0], "Tie": [0.0, 0.0, 1.0]}
"""A fact label as verdict probabilities [P(A), P(B), P(Tie)]."""


def fact_verdicts(
    items: Sequence[BenchmarkItem], candidate_sets: Iterable[CandidateSet], cfg: ScorerConfig, out_path: Path
) -> dict[str, Any]:
    """The fact judge as the scorer (``scorer.kind: facts``): `fact_label` verdicts as `CandidateScores`.

    An **oracle**: it reads each item's ground truth (gold answer and facts), which no real judge of a
    real run has; its runs bound what the loop can do with a perfect judge, never the paper's R-Scorer.
    Same pairs and record as the R-Scorer (mode ``pairwise``, both orders when ``cfg.both_orders``),
    one-hot probabilities; logged per item to ``out_path`` (resumable). Returns a summary.
    """
    from calibrate.artifacts import ItemLog

    require_facts(items, "scorer.kind facts (the oracle arm)")
    sets = {cs.item_id: cs for cs in candidate_sets}
    todo = [it for it in items if it.id in sets and len(sets[it.id].candidates) >= 2]
    log = ItemLog(out_path)
    new: list[CandidateScores] = []
    for item in todo:
        if item.id in log:
            continue
        cands = {c.candidate_id: c for c in sets[item.id].candidates}
        verdicts = [
            PairVerdict(
                a,
                b,
                ONE_HOT[fact_label(item, cands[a], cands[b])],
                ONE_HOT[fact_label(item, cands[b], cands[a])] if cfg.both_orders else [],
            )
            for a, b in select_pairs(sorted(cands), cfg.max_pairs_per_item)
        ]
        new.append(CandidateScores(item.id, "src", "pairwise", verdicts))
    log.append(r.to_dict() for r in new)
    log.rewrite_ordered([it.id for it in todo])
    labels = [v.p_ab.index(1.0) for r in new for v in r.verdicts]
    return {
        "kind": "facts (oracle)",
        "items": len(todo),
        "new_items": len(new),
        "pairs": len(labels),
        "decisive_share": round(sum(x != 2 for x in labels) / len(labels), 4) if labels else 0.0,
    }


def agreement_with_facts(
    items: Sequence[BenchmarkItem], candidate_sets: Iterable[CandidateSet], records: Iterable[CandidateScores]
) -> dict[str, Any]:
    """How often the R-Scorer's order-debiased verdict matches `fact_label` on the same pairs.

    The verdict of pair (a, b) is the argmax of (w_ab, w_ba, tie) with both orders averaged;
    agreement counts exact matches of A / B / Tie; ``decisive_agreement`` only pairs where
    the fact label is not a tie.
    """
    by_item = {i.id: i for i in items}
    cands = {cs.item_id: {c.candidate_id: c for c in cs.candidates} for cs in candidate_sets}
    total = agree = decisive = decisive_agree = 0
    for record in records:
        item = by_item.get(record.item_id)
        if item is None:
            continue
        for v in record.verdicts:
            a, b = cands[record.item_id][v.a], cands[record.item_id][v.b]
            if v.p_ba:
                probs = [
                    (v.p_ab[0] + v.p_ba[1]) / 2,
                    (v.p_ab[1] + v.p_ba[0]) / 2,
                    (v.p_ab[2] + v.p_ba[2]) / 2,
                ]
            else:
                probs = list(v.p_ab)
            predicted = "ABT"[max(range(3), key=lambda k: probs[k])]
            truth = fact_label(item, a, b)[0]
            total += 1
            agree += predicted == truth
            if truth != "T":
                decisive += 1
                decisive_agree += predicted == truth
    return {
        "fact_agreement": round(agree / total, 4) if total else None,
        "fact_decisive_agreement": round(decisive_agree / decisive, 4) if decisive else None,
        "fact_pairs": total,
    }


# --------------------------------------------------------------------------- external labels


def read_labels(path: str | Path) -> list[dict[str, Any]]:
    """Read a JSONL of ``{item_id, a, b, verdict}`` (verdict A/B/Tie, ``a`` shown first); errors name file:line."""
    path = Path(path)
    out = []
    with open(path, encoding="utf-8") as handle:
        for lineno, line in enumerate(handle, 1):
            if line.strip():
                out.append(_label_record(line, f"{path}:{lineno}"))
    return out


def _label_record(line: str, where: str) -> dict[str, Any]:
    """One checked label line as ``{item_id, a, b, verdict}`` (verdict spelled as in `VERDICTS`)."""
    try:
        record = json.loads(line)
    except ValueError as exc:
        raise LabelError(f"{where}: invalid JSON ({exc})") from exc
    if not isinstance(record, dict):
        raise LabelError(f"{where}: expected a JSON object")
    for key in ("item_id", "a", "b", "verdict"):
        if key not in record:
            raise LabelError(f"{where}: missing field {key!r}")
    if not isinstance(record["item_id"], str) or not record["item_id"]:
        raise LabelError(f"{where}: item_id must be a non-empty string")
    for key in ("a", "b"):
        if not isinstance(record[key], int) or isinstance(record[key], bool) or record[key] < 0:
            raise LabelError(f"{where}: {key} must be a candidate id (int >= 0), got {record[key]!r}")
    if record["a"] == record["b"]:
        raise LabelError(f"{where}: a and b are the same candidate ({record['a']})")
    verdict = {v.lower(): v for v in VERDICTS}.get(str(record["verdict"]).strip().lower())
    if verdict is None:
        raise LabelError(f"{where}: verdict must be one of A, B, Tie, got {record['verdict']!r}")
    return {"item_id": record["item_id"], "a": record["a"], "b": record["b"], "verdict": verdict}


def label_examples(
    items: Sequence[BenchmarkItem], candidate_sets: Iterable[CandidateSet], labels: Sequence[dict[str, Any]]
) -> list[LabelledPair]:
    """Labelled pairs from `read_labels` records; unknown items or candidate ids raise `LabelError`."""
    by_item = {it.id: it for it in items}
    sets = {cs.item_id: {c.candidate_id: c for c in cs.candidates} for cs in candidate_sets}
    out: list[LabelledPair] = []
    for label in labels:
        iid = label["item_id"]
        if iid not in by_item or iid not in sets:
            raise LabelError(f"label for unknown item {iid!r} (no item or candidate set)")
        cands = sets[iid]
        for key in ("a", "b"):
            if label[key] not in cands:
                raise LabelError(f"label for item {iid!r}: unknown candidate id {label[key]}")
        out.append(LabelledPair(by_item[iid], cands[label["a"]], cands[label["b"]], label["verdict"]))
    return out


# --------------------------------------------------------------------------- training examples


def training_examples(
    items: Sequence[BenchmarkItem],
    candidate_sets: Iterable[CandidateSet],
    cfg: ScorerConfig,
    labels: str | Path | None = None,
) -> list[LabelledPair]:
    """The R-Scorer's training pairs from a run's inputs (the loop's scorer stage and ``srcal scorer train``).

    Only items with a candidate set take part. With ``labels`` (an external judge's JSONL, see
    `read_labels`) the pairs are that file's, in its order, and a label naming an unknown item or candidate
    raises `LabelError`; without, `fact_label` labels both orders of up to ``cfg.max_pairs_per_item``
    pairs per item (`fact_examples`), in item order.
    """
    sets = list(candidate_sets)
    with_set = {cs.item_id for cs in sets}
    pool = [item for item in items if item.id in with_set]
    if labels:
        return label_examples(pool, sets, read_labels(labels))
    require_facts(pool, "the R-Scorer's fact labels")
    return fact_examples(pool, sets, cfg.max_pairs_per_item)


def consistent_examples(examples: Sequence[LabelledPair]) -> tuple[list[LabelledPair], int]:
    """Keep labels that agree under both orders; returns (kept, dropped).

    A pair labelled in both orders is kept only when label(b, a) mirrors label(a, b) (every copy agreeing);
    a pair labelled in one order only is kept and its mirror added, so training always sees both orders.
    """
    groups: dict[tuple[str, int, int], list[LabelledPair]] = {}
    for ex in examples:
        ids = (ex.a.candidate_id, ex.b.candidate_id)
        groups.setdefault((ex.item.id, min(ids), max(ids)), []).append(ex)
    kept: list[LabelledPair] = []
    dropped = 0
    for (_, lo, _), group in groups.items():
        canon = {ex.verdict if ex.a.candidate_id == lo else _mirror(ex.verdict) for ex in group}
        orders = {ex.a.candidate_id == lo for ex in group}
        if len(canon) != 1:
            dropped += len(group)
            continue
        kept.extend(group)
        if len(orders) == 1:
            kept.append(group[0].mirrored())
    return kept, dropped


def split_heldout(
    examples: Sequence[LabelledPair], seed: int, fraction: float = 0.2
) -> tuple[list[LabelledPair], list[LabelledPair]]:
    """Deterministic split by item: the ceil(fraction x items) items with the smallest seeded hash are held out."""
    ids = sorted(
        {ex.item.id for ex in examples}, key=lambda i: hashlib.sha256(f"{seed}:{i}".encode()).hexdigest()
    )
    n_held = min(len(ids) - 1, math.ceil(fraction * len(ids))) if fraction > 0 and len(ids) > 1 else 0
    held = set(ids[:n_held])
    return [ex for ex in examples if ex.item.id not in held], [ex for ex in examples if ex.item.id in held]


def balance_labels(examples: Sequence[LabelledPair], seed: int) -> list[LabelledPair]:
    """Downsample every verdict class to the size of the largest minority class (deterministic).

    Fact labels on similar candidates are mostly "Tie"; trained on them as they come, a small
    scorer learns to answer "Tie" everywhere and never separates candidates.
    """
    by_label: dict[str, list[LabelledPair]] = {}
    for example in examples:
        by_label.setdefault(example.verdict, []).append(example)
    if len(by_label) < 2:
        return list(examples)
    sizes = sorted(len(v) for v in by_label.values())
    cap = sizes[-2]  # the second-largest class: only the majority is cut
    rng = random.Random(f"balance/{seed}")
    keep: set[int] = set()
    for group in by_label.values():
        chosen = group if len(group) <= cap else rng.sample(group, cap)
        keep.update(id(e) for e in chosen)
    return [e for e in examples if id(e) in keep]
