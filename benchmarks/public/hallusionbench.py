"""HallusionBench (image part): yes/no questions probing language hallucination and visual illusion.

Data: ``lmms-lab/HallusionBench`` split ``image`` (951 questions with a figure; lmms-eval task
``hallusion_bench_image``). Fields used (all strings): ``category`` (``VD`` visual dependent /
``VS`` visual supplement), ``subcategory``, ``set_id``, ``figure_id``, ``question_id``,
``question``, ``gt_answer`` (``"1"`` = yes, ``"0"`` = no), ``visual_input``, ``image``.

Official metrics (HallusionBench ``utils.py``, as in lmms-eval ``hallusion_bench/utils.py``):

* aAcc: accuracy over all questions;
* fAcc: figure accuracy, groups keyed by (category, subcategory, set_id, figure_id), a figure
  counts only if all its questions are right; VS rows with ``figure_id == "0"`` (no figure)
  are left out, as officially;
* qAcc: question accuracy, groups keyed by (category, subcategory, set_id, question_id), i.e.
  the same question over its original and edited figures, all right.

The official pipeline asks GPT-4 whether each free-form answer agrees with the reference; here
the answer is parsed as yes/no (lmms-eval's rule-based variant maps to "1"/"0" likewise), and
an unparseable answer is wrong and keeps its parse status.
"""

from __future__ import annotations

from typing import Any

from benchmarks.public._common import all_correct_rate, require_text, summary_with_groups
from benchmarks.records import RecordError
from benchmarks.spec import BenchmarkSpec, EvalDoc, require

GT_ANSWERS = {"1": "yes", "0": "no"}
KEYS = ("category", "subcategory", "set_id", "figure_id", "question_id")


class HallusionBenchSpec(BenchmarkSpec):
    name = "hallusionbench"
    title = "HallusionBench (image)"
    category = "hallucination"
    dataset = "lmms-lab/HallusionBench"
    dataset_config = None
    split = "image"
    image_field = "image"
    lmms_task = "hallusion_bench_image"
    citation = (
        "Guan et al., 'HallusionBench: An Advanced Diagnostic Suite for Entangled Language Hallucination "
        "and Visual Illusion in Large Vision-Language Models' (CVPR 2024), arXiv:2310.14566; scoring: "
        "aAcc/fAcc/qAcc as in HallusionBench utils.py and lmms-eval tasks/hallusion_bench"
    )

    def to_doc(self, raw: dict[str, Any]) -> EvalDoc:
        gt = str(require(raw, "gt_answer")).strip()
        if gt not in GT_ANSWERS:
            raise RecordError(f"field 'gt_answer': {gt!r} is not '1' (yes) or '0' (no)")
        keys = {k: str(require(raw, k)).strip() for k in KEYS}
        return EvalDoc(
            id="_".join(keys[k] for k in KEYS),
            question=require_text(raw, "question"),
            answer=GT_ANSWERS[gt],
            answer_type="yes_no",
            image=raw.get(self.image_field),
            extra=keys,
        )

    def score(self, response: str | None, doc: EvalDoc) -> dict[str, Any]:
        row = super().score(response, doc)
        row.update(answer=doc.answer, **doc.extra)
        return row

    def aggregate(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        summary = summary_with_groups(rows, category="category")
        summary["aAcc"] = summary["accuracy"]
        with_figure = [r for r in rows if not (r["category"] == "VS" and r["figure_id"] == "0")]
        summary["fAcc"], summary["n_figures"] = all_correct_rate(
            with_figure, lambda r: (r["category"], r["subcategory"], r["set_id"], r["figure_id"])
        )
        summary["qAcc"], summary["n_question_groups"] = all_correct_rate(
            rows, lambda r: (r["category"], r["subcategory"], r["set_id"], r["question_id"])
        )
        return summary


SPEC = HallusionBenchSpec()
