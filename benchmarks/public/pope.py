"""POPE: polling-based object-existence questions for object hallucination (Li et al., EMNLP 2023).

Data: ``lmms-lab/POPE`` split ``test`` (9,000 questions on MSCOCO val2014 images; lmms-eval task
``pope``). Fields used: ``question_id``, ``question`` (``"Is there a <object> in the image?"``),
``answer`` (``yes`` / ``no``), ``category`` (``adversarial`` / ``popular`` / ``random``), ``image``.
Question ids restart in each sampling setting (as in the original POPE files), so ``id`` is
``<category>-<question_id>``.

Official rule (POPE ``evaluate.py``, also LLaVA's ``eval_pope.py``): positive class is *yes*;
accuracy, precision, recall, F1 and the yes-ratio (share of *predictions* that are yes), per
sampling setting and overall. Differences, on purpose:

* an unparseable answer is a failure: it is neither a yes nor a no prediction, so it is wrong
  for accuracy, a missed positive for recall (when the truth is yes), absent from precision's
  denominator, and not counted as yes. The official script instead maps every answer that lacks
  "no"/"not" to *yes*, which hides parse failures;
* the yes-ratio is over predictions (as in the POPE repository), not over gold labels (as the
  lmms-eval aggregate computes it).
"""

from __future__ import annotations

from typing import Any

from benchmarks.public._common import require_text
from benchmarks.records import RecordError
from benchmarks.scoring import FAILED_STATUSES
from benchmarks.spec import BenchmarkSpec, EvalDoc, require


def binary_metrics(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Accuracy, precision, recall, F1 (positive = yes), yes-ratio and counts over scored rows."""
    n = len(rows)
    tp = sum(1 for r in rows if r["answer"] == "yes" and r["prediction"] == "yes")
    fp = sum(1 for r in rows if r["answer"] == "no" and r["prediction"] == "yes")
    tn = sum(1 for r in rows if r["answer"] == "no" and r["prediction"] == "no")
    positives = sum(1 for r in rows if r["answer"] == "yes")
    fn = positives - tp
    unparsed = sum(1 for r in rows if r["prediction"] is None)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / positives if positives else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    nan = float("nan")
    return {
        "n": n,
        "accuracy": (tp + tn) / n if n else nan,
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "yes_ratio": sum(1 for r in rows if r["prediction"] == "yes") / n if n else nan,
        "tp": tp,
        "fp": fp,
        "tn": tn,
        "fn": fn,
        "unparsed": unparsed,
        "parse_failures": sum(1 for r in rows if r.get("parse_status") in FAILED_STATUSES),
    }


class POPESpec(BenchmarkSpec):
    name = "pope"
    title = "POPE"
    category = "hallucination"
    dataset = "lmms-lab/POPE"
    dataset_config = None
    split = "test"
    image_field = "image"
    lmms_task = "pope"
    citation = (
        "Li et al., 'Evaluating Object Hallucination in Large Vision-Language Models' (EMNLP 2023), "
        "arXiv:2305.10355; scoring: POPE evaluate.py (accuracy/precision/recall/F1/yes-ratio, positive = yes)"
    )

    def to_doc(self, raw: dict[str, Any]) -> EvalDoc:
        answer = str(require(raw, "answer")).strip().lower()
        if answer not in ("yes", "no"):
            raise RecordError(f"field 'answer': {answer!r} is not yes/no")
        category = require_text(raw, "category")
        return EvalDoc(
            id=f"{category}-{require(raw, 'question_id')}",
            question=require_text(raw, "question"),
            answer=answer,
            answer_type="yes_no",
            image=raw.get(self.image_field),
            extra={"category": category},
        )

    def score(self, response: str | None, doc: EvalDoc) -> dict[str, Any]:
        row = super().score(response, doc)
        row.update(answer=doc.answer, prediction=row["final_answer"], category=doc.extra["category"])
        return row

    def aggregate(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        summary = binary_metrics(rows)
        summary["parse_fallbacks"] = sum(
            1 for r in rows if str(r.get("parse_status", "")).startswith("fallback_")
        )
        summary["parse_failure_rate"] = summary["parse_failures"] / len(rows) if rows else float("nan")
        categories = sorted({r["category"] for r in rows})
        summary["by_category"] = {
            c: binary_metrics([r for r in rows if r["category"] == c]) for c in categories
        }
        return summary


SPEC = POPESpec()
