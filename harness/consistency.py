"""Rationale-answer consistency: the per-sample fields (the reader's implied answer, ``consistent``).

Per sample (added to a scored row):
    ``implied_answer``   the answer the rationale alone supports (a reader's, see
                         :mod:`harness.implied_answer`), ``implied_status`` its status;
    ``consistent``       ``implied_answer`` equals ``final_answer`` under the benchmark's
                         own matching rule (``BenchmarkSpec.same_answer``: the final answer
                         takes the gold's place; the gold never enters); ``None`` when either
                         is missing (undecided).

The per-benchmark metrics over these fields are :mod:`benchmarks.metrics`.
"""

from __future__ import annotations

from typing import Any

from benchmarks.scoring import FAILED_STATUSES
from benchmarks.spec import BenchmarkSpec, EvalDoc
from harness.implied_answer import ImpliedAnswer, ReadQuery


def read_query(doc: EvalDoc, row: dict[str, Any] | str) -> ReadQuery:
    """What a reader sees of a scored ``row`` (or a bare rationale): question, options, rationale.

    Closed-set readers also weigh the row's final answer and the gold answer as unlabelled
    candidates (numbers only; options and yes/no are closed already).
    """
    if isinstance(row, str):
        return ReadQuery(doc.question, doc.answer_type, row, doc.choices, doc.hint)
    candidates = []
    if doc.answer_type not in ("multiple_choice", "yes_no"):
        final = row.get("prediction") or row.get("raw_answer") or row.get("final_answer")
        candidates = [str(c) for c in (final, doc.answer) if c]
    return ReadQuery(
        doc.question, doc.answer_type, row.get("rationale") or "", doc.choices, doc.hint, candidates
    )


def consistency_fields(
    spec: BenchmarkSpec, doc: EvalDoc, row: dict[str, Any], implied: ImpliedAnswer
) -> dict[str, Any]:
    """The consistency fields of one scored row."""
    decidable = implied.status == "ok" and row.get("parse_status") not in FAILED_STATUSES
    return {
        "implied_answer": implied.answer,
        "implied_status": implied.status,
        "implied_raw": implied.raw,
        "consistent": spec.same_answer(implied.answer, row, doc) if decidable else None,
    }
