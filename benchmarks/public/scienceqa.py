"""ScienceQA-IMG: science multiple-choice questions with an image context (Lu et al., 2022).

Data: ``lmms-lab/ScienceQA`` config ``ScienceQA-IMG`` split ``test`` (2,017 questions; lmms-eval
task ``scienceqa_img``). Fields used: ``question``, ``choices`` (list of texts), ``answer``
(int index into ``choices``), ``hint`` (the textual context, often empty), ``subject``,
``image``. The schema has no id: ``id`` is a hash of question, choices and hint.

Official rule (ScienceQA; lmms-eval ``scienceqa/utils.py``): the predicted option letter must
equal the letter of ``answer``. The prompt shows the hint as ``Context: ...`` before the question,
as lmms-eval does. Letters come from ``benchmarks.parsing``: an unparseable response is wrong and
keeps its parse status. ``aggregate`` adds accuracy per ``subject``.
"""

from __future__ import annotations

from typing import Any

from benchmarks.prompts import build_prompt
from benchmarks.public._common import clean_text, content_id, index_letter, require_text, summary_with_groups
from benchmarks.records import RecordError
from benchmarks.spec import BenchmarkSpec, EvalDoc, require


class ScienceQAImageSpec(BenchmarkSpec):
    name = "scienceqa_img"
    title = "ScienceQA-IMG"
    category = "reasoning"
    dataset = "lmms-lab/ScienceQA"
    dataset_config = "ScienceQA-IMG"
    split = "test"
    image_field = "image"
    lmms_task = "scienceqa_img"
    citation = (
        "Lu et al., 'Learn to Explain: Multimodal Reasoning via Thought Chains for Science Question "
        "Answering' (NeurIPS 2022); scoring: lmms-eval tasks/scienceqa/utils.py (letter match)"
    )

    def to_doc(self, raw: dict[str, Any]) -> EvalDoc:
        question = require_text(raw, "question")
        choices = [str(c) for c in (require(raw, "choices") or [])]
        if len(choices) < 2:
            raise RecordError("field 'choices': fewer than two options")
        hint = clean_text(raw.get("hint"))
        return EvalDoc(
            id=content_id(self.name, question, "|".join(choices), hint or ""),
            question=question,
            answer=index_letter(require(raw, "answer"), choices),
            answer_type="multiple_choice",
            choices=choices,
            hint=hint,
            image=raw.get(self.image_field),
            extra={"subject": clean_text(raw.get("subject")), "grade": clean_text(raw.get("grade"))},
        )

    def prompt(self, doc: EvalDoc, style: str = "plain") -> str:
        text = build_prompt(doc.question, doc.choices, None, style)
        return f"Context: {doc.hint}\n{text}" if doc.hint else text

    def score(self, response: str | None, doc: EvalDoc) -> dict[str, Any]:
        row = super().score(response, doc)
        row.update(answer=doc.answer, subject=doc.extra["subject"])
        return row

    def aggregate(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        return summary_with_groups(rows, subject="subject")


SPEC = ScienceQAImageSpec()
