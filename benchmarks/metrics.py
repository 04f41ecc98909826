"""Rationale-answer consistency metrics: pure math over scored rows (no model, no I/O).

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
    ``claim_accuracy``         true claims / checkable claims, pooled over the responses
                               that make at least one checkable claim (micro-average); a
                               response without one is not "all claims false";
    ``claim_coverage``         responses with at least one checkable claim / all documents
                               of benchmarks that check claims (a response without a
                               rationale makes no claim: coverage is of what the model
                               gave, like ``consistency_coverage``; ``rationale_rate``
                               separates the two causes);
    ``no_claim_responses``     count of responses with a rationale but no checkable claim;
    ``parse_failure_rate``     samples whose final answer could not be read at all.

Claims are checkable on the built-in suites only: their rows carry ``claims_checked``
(possibly 0); rows of other benchmarks lack it (or hold ``None``), so there
``claim_accuracy`` and ``claim_coverage`` are ``None``, not 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from benchmarks.scoring import FAILED_STATUSES

CI_LEVEL = 0.95


def _ratio(num: Sequence[float], den: Sequence[float]) -> float | None:
    """sum(num) / sum(den); ``None`` (JSON null) where undefined."""
    total = sum(den)
    return sum(num) / total if total else None


def sample_columns(rows: Sequence[dict[str, Any]]) -> dict[str, list[float]]:
    """Per-sample numerators/denominators of every ratio metric.

    ``checkable``: the row carries ``claims_checked`` (its benchmark checks claims);
    ``claimed``: it makes at least one checkable claim; ``no_claim``: it has a rationale
    but no checkable claim; ``claims_checked``/``claims_true`` count only where claimed.
    """
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
            "checkable",
            "claimed",
            "no_claim",
            "claims_checked",
            "claims_true",
        )
    }
    for r in rows:
        decided = r.get("consistent") is not None
        correct = bool(r.get("correct"))
        rationale = bool((r.get("rationale") or "").strip())
        cols["one"].append(1.0)
        cols["correct"].append(float(correct))
        cols["failed"].append(float(r.get("parse_status") in FAILED_STATUSES))
        cols["rationale"].append(float(rationale))
        cols["decided"].append(float(decided))
        cols["consistent"].append(float(decided and bool(r["consistent"])))
        cols["lucky"].append(float(decided and correct and not r["consistent"]))
        cols["faithful"].append(float(decided and not correct and bool(r["consistent"])))
        checkable = r.get("claims_checked") is not None  # absent: this benchmark checks no claims
        claims = float(r["claims_checked"]) if checkable else 0.0
        cols["checkable"].append(float(checkable))
        cols["claimed"].append(float(claims > 0))
        cols["no_claim"].append(float(checkable and claims == 0 and rationale))
        # claims of responses with none add 0 to both sums: the ratio is over responses with a claim
        cols["claims_checked"].append(claims)
        cols["claims_true"].append(float(r.get("claims_true") or 0) if claims > 0 else 0.0)
    return cols


RATIOS: dict[str, tuple[str, str]] = {
    "accuracy": ("correct", "one"),
    "consistency_rate": ("consistent", "decided"),
    "consistency_coverage": ("decided", "one"),
    "lucky_answer_rate": ("lucky", "decided"),
    "faithful_error_rate": ("faithful", "decided"),
    "rationale_rate": ("rationale", "one"),
    "claim_accuracy": ("claims_true", "claims_checked"),
    "claim_coverage": ("claimed", "checkable"),
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


MDE_POWER = 0.8
"""Power at which minimum detectable effects are stated (with a two-sided 5% level)."""


def minimum_detectable_effect(standard_error: float, alpha: float = 0.05, power: float = MDE_POWER) -> float:
    """The smallest true difference a two-sided test at level ``alpha`` detects with ``power``.

    ``(z_{1-alpha/2} + z_{power}) x SE``: 2.80 x SE at 5% and 80% (normal approximation; the SE of a
    paired comparison is that of its paired-bootstrap deltas).
    """
    from statistics import NormalDist

    z = NormalDist().inv_cdf
    return (z(1 - alpha / 2) + z(power)) * standard_error


def consistency_metrics(
    rows: Sequence[dict[str, Any]], bootstrap: int = 1000, seed: int = 0
) -> dict[str, Any]:
    """Accuracy, consistency and their 2x2 table, claim accuracy/coverage and parse failures, with 95% CIs."""
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
    metrics["no_claim_responses"] = int(sum(cols["no_claim"]))
    metrics["ci95"] = {k: list(v) for k, v in bootstrap_ci(cols, bootstrap, seed).items()}
    return metrics
