"""Rationale-answer consistency: per-sample fields and per-benchmark metrics.

Per sample (added to a scored row):
    ``implied_answer``   the answer the rationale alone supports (a reader's, see
                         :mod:`harness.readers`), ``implied_status`` its status;
    ``consistent``       ``implied_answer`` equals ``final_answer`` under the benchmark's
                         own matching rule; ``None`` when either is missing (undecided).

Per benchmark (over rows), with bootstrap 95% CIs over items:
    ``accuracy``               share of samples whose final answer is correct;
    ``consistency_rate``       share of *decided* samples that are consistent;
    ``consistency_coverage``   share of samples that could be decided (a rationale was
                               given, the reader named an answer, a final answer parsed);
    ``lucky_answer_rate``      decided samples correct although the rationale implies
                               another answer (right for the wrong reasons);
    ``faithful_error_rate``    decided samples wrong *and* implied by their rationale
                               (the error is in the reasoning, reported faithfully);
    ``table``                  the 2x2 counts of correct x consistent over decided samples;
    ``claim_accuracy``         on built-in suites, the share of checkable rationale
                               claims that are true of the item's facts (micro-average);
    ``parse_failure_rate``     samples whose final answer could not be read at all.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from benchmarks.scoring import FAILED_STATUSES
from benchmarks.spec import BenchmarkSpec, EvalDoc
from harness.readers import ImpliedAnswer, ReadQuery

CI_LEVEL = 0.95


def read_query(doc: EvalDoc, rationale: str) -> ReadQuery:
    return ReadQuery(doc.question, doc.answer_type, rationale or "", doc.choices, doc.hint)


def answers_agree(spec: BenchmarkSpec, implied: str | None, final: str | None, doc: EvalDoc) -> bool | None:
    """Whether two answers to ``doc`` are the same under the benchmark's scoring rule (``None``: undecided).

    ``final`` takes the gold answer's place, so official rules (ChartQA's relaxed
    accuracy, MathVista's normalisation, ...) decide what "the same answer" means.
    """
    if implied is None or final is None:
        return None
    as_gold = dataclasses.replace(doc, answer=final)
    try:
        return bool(spec.score(f"Answer: {implied}", as_gold)["correct"])
    except ValueError:
        return None


def consistency_fields(
    spec: BenchmarkSpec, doc: EvalDoc, row: dict[str, Any], implied: ImpliedAnswer
) -> dict[str, Any]:
    """The consistency fields of one scored row."""
    final = row.get("final_answer") if row.get("parse_status") not in FAILED_STATUSES else None
    return {
        "implied_answer": implied.answer,
        "implied_status": implied.status,
        "implied_raw": implied.raw,
        "consistent": answers_agree(spec, implied.answer, final, doc) if implied.status == "ok" else None,
    }


# ----------------------------------------------------------------------------- metrics


def _ratio(num: Sequence[float], den: Sequence[float]) -> float | None:
    """sum(num) / sum(den); ``None`` (JSON null) where undefined."""
    total = sum(den)
    return sum(num) / total if total else None


def sample_columns(rows: Sequence[dict[str, Any]]) -> dict[str, list[float]]:
    """Per-sample numerators/denominators of every ratio metric."""
    cols: dict[str, list[float]] = {
        k: []
        for k in (
            "one",
            "correct",
            "failed",
            "rationale",
            "decided",
            "consistent",
            "lucky",
            "faithful",
            "claims_checked",
            "claims_true",
        )
    }
    for r in rows:
        decided = r.get("consistent") is not None
        correct = bool(r.get("correct"))
        cols["one"].append(1.0)
        cols["correct"].append(float(correct))
        cols["failed"].append(float(r.get("parse_status") in FAILED_STATUSES))
        cols["rationale"].append(float(bool((r.get("rationale") or "").strip())))
        cols["decided"].append(float(decided))
        cols["consistent"].append(float(decided and bool(r["consistent"])))
        cols["lucky"].append(float(decided and correct and not r["consistent"]))
        cols["faithful"].append(float(decided and not correct and bool(r["consistent"])))
        cols["claims_checked"].append(float(r.get("claims_checked", 0) or 0))
        cols["claims_true"].append(float(r.get("claims_true", 0) or 0))
    return cols


RATIOS: dict[str, tuple[str, str]] = {
    "accuracy": ("correct", "one"),
    "consistency_rate": ("consistent", "decided"),
    "consistency_coverage": ("decided", "one"),
    "lucky_answer_rate": ("lucky", "decided"),
    "faithful_error_rate": ("faithful", "decided"),
    "rationale_rate": ("rationale", "one"),
    "claim_accuracy": ("claims_true", "claims_checked"),
    "parse_failure_rate": ("failed", "one"),
}
"""metric -> (numerator column, denominator column); each is a ratio of sums over items."""


def bootstrap_ci(
    cols: dict[str, list[float]], samples: int, seed: int, level: float = CI_LEVEL
) -> dict[str, tuple[float, float]]:
    """Percentile bootstrap CIs of every ratio metric, resampling items (one draw shared by all metrics)."""
    import numpy as np

    n = len(cols["one"])
    if n == 0 or samples <= 0:
        return {}
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n, size=(samples, n))
    out: dict[str, tuple[float, float]] = {}
    lo_q, hi_q = (1 - level) / 2, 1 - (1 - level) / 2
    for metric, (num, den) in RATIOS.items():
        a, b = np.asarray(cols[num]), np.asarray(cols[den])
        if b.sum() == 0:
            continue
        with np.errstate(invalid="ignore", divide="ignore"):
            stats = a[draws].sum(axis=1) / b[draws].sum(axis=1)
        stats = stats[~np.isnan(stats)]
        if stats.size:
            out[metric] = (float(np.quantile(stats, lo_q)), float(np.quantile(stats, hi_q)))
    return out


def consistency_metrics(
    rows: Sequence[dict[str, Any]], bootstrap: int = 1000, seed: int = 0
) -> dict[str, Any]:
    """Accuracy, consistency and their 2x2 table, claim accuracy and parse failures, with 95% CIs."""
    cols = sample_columns(rows)
    metrics: dict[str, Any] = {"n": len(rows)}
    for metric, (num, den) in RATIOS.items():
        metrics[metric] = _ratio(cols[num], cols[den])
    decided = int(sum(cols["decided"]))
    consistent = int(sum(cols["consistent"]))
    lucky = int(sum(cols["lucky"]))
    faithful = int(sum(cols["faithful"]))
    correct_decided = sum(1 for r in rows if r.get("consistent") is not None and r.get("correct"))
    metrics["table"] = {
        "correct_consistent": correct_decided - lucky,
        "correct_inconsistent": lucky,
        "wrong_consistent": faithful,
        "wrong_inconsistent": decided - consistent - lucky,
    }
    metrics["decided"] = decided
    metrics["lucky_answers"] = lucky
    metrics["faithful_errors"] = faithful
    metrics["parse_failures"] = int(sum(cols["failed"]))
    metrics["claims_checked"] = int(sum(cols["claims_checked"]))
    metrics["ci95"] = {k: list(v) for k, v in bootstrap_ci(cols, bootstrap, seed).items()}
    return metrics
