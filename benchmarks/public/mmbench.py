"""MMBench (English, dev split): multiple-choice perception and reasoning questions (Liu et al., 2023).

Data: ``lmms-lab/MMBench`` config ``en`` split ``dev`` (lmms-eval task ``mmbench_en_dev``).
Fields used: ``index``, ``question``, ``hint`` (may be null/``"nan"``), option columns ``A``-``D``
(absent options are null, NaN or ``"nan"``: only present options are offered), ``answer``
(letter), ``category``, ``L2-category`` (``l2-category`` in other mirrors), ``image``.

Official rule (MMBench / VLMEvalKit, as in lmms-eval ``mmbench/mmbench_evals.py``): the
prediction's option letter must equal the answer; **CircularEval** groups a question with its
option-shifted copies, whose ``index`` differs by multiples of 1,000,000, and credits the
group only if every copy is answered correctly. ``aggregate`` reports per-row (vanilla)
accuracy and, when such copies are present, circular accuracy overall and per category.
Letters come from ``benchmarks.parsing``; where the official evaluator falls back to a GPT
matcher and finally a *random* letter, an unparseable response here is simply wrong and
keeps its parse status.
"""

from __future__ import annotations

from typing import Any

from benchmarks.public._common import (
    all_correct_rate,
    check_letter,
    clean_text,
    require_text,
    summary_with_groups,
)
from benchmarks.records import RecordError
from benchmarks.spec import BenchmarkSpec, EvalDoc, require

OPTION_COLUMNS = ("A", "B", "C", "D", "E")
CIRCULAR_STRIDE = 1_000_000


def present_options(raw: dict[str, Any]) -> list[str]:
    """The texts of the options present in ``raw`` (columns ``A``, ``B``, ... without gaps)."""
    options: list[str] = []
    gap = None
    for letter in OPTION_COLUMNS:
        text = clean_text(raw.get(letter))
        if text is None:
            gap = gap or letter
            continue
        if gap is not None:
            raise RecordError(f"field {letter!r}: option present after missing option {gap!r}")
        options.append(text)
    if len(options) < 2:
        raise RecordError("field 'A': fewer than two options present")
    return options


class MMBenchEnDevSpec(BenchmarkSpec):
    name = "mmbench_en_dev"
    title = "MMBench (en, dev)"
    category = "qa"
    dataset = "lmms-lab/MMBench"
    dataset_config = "en"
    split = "dev"
    image_field = "image"
    lmms_task = "mmbench_en_dev"
    citation = (
        "Liu et al., 'MMBench: Is Your Multi-modal Model an All-around Player?' (2023), arXiv:2307.06281; "
        "scoring: CircularEval as in VLMEvalKit / lmms-eval tasks/mmbench/mmbench_evals.py"
    )

    def to_doc(self, raw: dict[str, Any]) -> EvalDoc:
        index_value = require(raw, "index")
        try:
            index = int(str(index_value).strip())
        except ValueError as exc:
            raise RecordError(f"field 'index': {index_value!r} is not an integer") from exc
        choices = present_options(raw)
        l2 = raw.get("L2-category", raw.get("l2-category"))
        return EvalDoc(
            id=str(index),
            question=require_text(raw, "question"),
            answer=check_letter(require(raw, "answer"), choices),
            answer_type="multiple_choice",
            choices=choices,
            hint=clean_text(raw.get("hint")),
            image=raw.get(self.image_field),
            extra={"index": index, "category": require(raw, "category"), "l2_category": clean_text(l2)},
        )

    def score(self, response: str | None, doc: EvalDoc) -> dict[str, Any]:
        row = super().score(response, doc)
        index = doc.extra["index"]
        row.update(
            answer=doc.answer,
            index=index,
            circular_group=index % CIRCULAR_STRIDE,
            category=doc.extra["category"],
            l2_category=doc.extra["l2_category"],
        )
        return row

    def aggregate(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        summary = summary_with_groups(rows, category="category", l2_category="l2_category")
        if any(r["index"] >= CIRCULAR_STRIDE for r in rows):
            group_category: dict[int, Any] = {}
            for r in sorted(rows, key=lambda r: r["index"]):
                group_category.setdefault(r["circular_group"], r["category"])
            rate, n = all_correct_rate(rows, lambda r: r["circular_group"])
            summary["circular_accuracy"] = rate
            summary["circular_groups"] = n
            by_cat: dict[str, list[dict[str, Any]]] = {}
            for r in rows:
                by_cat.setdefault(str(group_category[r["circular_group"]]), []).append(r)
            summary["circular_by_category"] = {
                cat: dict(zip(("accuracy", "n"), all_correct_rate(members, lambda r: r["circular_group"])))
                for cat, members in sorted(by_cat.items())
            }
        return summary


SPEC = MMBenchEnDevSpec()
