"""AI2D: multiple-choice questions about grade-school science diagrams (Kembhavi et al., 2016).

Data: ``lmms-lab/ai2d`` split ``test`` (3,088 questions; lmms-eval task ``ai2d``). Fields used:
``question``, ``options`` (list of texts), ``answer`` (the 0-based option index *as a string*),
``image``. The schema has no id: ``id`` is a hash of question, options and answer.

Official rule (lmms-eval ``ai2d/utils.py`` with ``mcq`` targets): the predicted option letter
must equal the letter of ``answer``. Letters come from ``benchmarks.parsing``: an unparseable
response is wrong and keeps its parse status.
"""

from __future__ import annotations

from typing import Any

from benchmarks.public._common import content_id, index_letter, require_text
from benchmarks.records import RecordError
from benchmarks.spec import BenchmarkSpec, EvalDoc, require


class AI2DSpec(BenchmarkSpec):
    name = "ai2d"
    title = "AI2D"
    category = "qa"
    dataset = "lmms-lab/ai2d"
    dataset_config = None
    split = "test"
    image_field = "image"
    lmms_task = "ai2d"
    citation = (
        "Kembhavi et al., 'A Diagram Is Worth A Dozen Images' (ECCV 2016), arXiv:1603.07396; "
        "scoring: lmms-eval tasks/ai2d (exact letter match, mcq format)"
    )

    def to_doc(self, raw: dict[str, Any]) -> EvalDoc:
        question = require_text(raw, "question")
        choices = [str(c) for c in (require(raw, "options") or [])]
        if len(choices) < 2:
            raise RecordError("field 'options': fewer than two options")
        answer = require(raw, "answer")
        return EvalDoc(
            id=content_id(self.name, question, "|".join(choices), answer),
            question=question,
            answer=index_letter(answer, choices),
            answer_type="multiple_choice",
            choices=choices,
            image=raw.get(self.image_field),
        )

    def score(self, response: str | None, doc: EvalDoc) -> dict[str, Any]:
        row = super().score(response, doc)
        row["answer"] = doc.answer
        return row


SPEC = AI2DSpec()
