"""Matching a parsed answer against the gold answer, and aggregating per-sample scores.

Generic rules live here; benchmark-specific official rules (ChartQA relaxed accuracy,
MathVista normalisation, POPE and HallusionBench aggregates, ...) live in the module of
their benchmark under ``benchmarks/public/``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from benchmarks.parsing import normalize_answer, parse_number

FAILED_STATUSES = ("invalid", "no_answer_marker")


def answers_match(
    predicted: str | None,
    gold: str,
    answer_type: str,
    choices: list[str] | None = None,
    rel_tol: float = 0.0,
    abs_tol: float = 1e-9,
) -> bool:
    """Whether a normalised ``predicted`` answer equals ``gold`` under the type's rule.

    ``gold`` is normalised the same way as predictions (so ``"1,234"`` equals ``1234``).
    Numbers compare with ``rel_tol`` / ``abs_tol``; ``None`` never matches.
    """
    if predicted is None:
        return False
    gold_norm = normalize_answer(gold, answer_type, choices)
    if gold_norm is None:
        raise ValueError(f"gold answer {gold!r} does not parse as {answer_type}")
    if answer_type in ("integer", "float"):
        p, g = parse_number(predicted), parse_number(gold_norm)
        if p is None or g is None:
            return False
        return math.isclose(p, g, rel_tol=rel_tol, abs_tol=abs_tol)
    return predicted == gold_norm


def mean(values: Iterable[float]) -> float:
    values = list(values)
    return sum(values) / len(values) if values else float("nan")


def accuracy_summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Accuracy and parse failures over scored rows (each with ``correct`` and ``parse_status``)."""
    n = len(rows)
    failures = sum(1 for r in rows if r.get("parse_status") in FAILED_STATUSES)
    fallbacks = sum(1 for r in rows if str(r.get("parse_status", "")).startswith("fallback_"))
    return {
        "n": n,
        "accuracy": mean(float(bool(r["correct"])) for r in rows) if n else float("nan"),
        "parse_failures": failures,
        "parse_failure_rate": failures / n if n else float("nan"),
        "parse_fallbacks": fallbacks,
    }


def majority_baseline(answers: Iterable[str]) -> tuple[str, float]:
    """The most frequent gold answer and the accuracy of always answering it."""
    counts: dict[str, int] = {}
    total = 0
    for a in answers:
        counts[a] = counts.get(a, 0) + 1
        total += 1
    if not total:
        return "", float("nan")
    top = max(sorted(counts), key=lambda k: counts[k])
    return top, counts[top] / total
