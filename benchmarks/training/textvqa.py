"""TextVQA (Singh et al., CVPR 2019): questions that need reading the text in an image.

Data: ``lmms-lab/textvqa`` split ``train`` (34,602 questions; its ``validation`` split is what lmms-eval
evaluates, never drawn here). Fields used: ``question``, ``answers`` (10 strings), ``question_id``,
``image``. Gold answer: the most frequent answer after VQA normalisation; scored by VQA accuracy.
Licence CC BY 4.0 (TextVQA; images from OpenImages, CC BY 2.0).
"""

from __future__ import annotations

from typing import Any

from benchmarks.public._common import content_id, require_text
from benchmarks.spec import EvalDoc
from benchmarks.training._common import VQASource, answer_strings, answer_type_of, vqa_gold


class TextVQASource(VQASource):
    name = "textvqa"
    title = "TextVQA (train)"
    category = "perception"
    dataset = "lmms-lab/textvqa"
    license = "CC BY 4.0 (TextVQA annotations; OpenImages images, CC BY 2.0)"
    citation = "Singh et al., 'Towards VQA Models That Can Read' (CVPR 2019), arXiv:1904.08920"

    def to_doc(self, raw: dict[str, Any]) -> EvalDoc:
        question = require_text(raw, "question")
        answers = [a for a in answer_strings(raw, "answers", key=None) if a.strip()]
        gold = vqa_gold(answers)
        return EvalDoc(
            id=str(raw.get("question_id") or content_id(self.name, question, gold)),
            question=question,
            answer=gold,
            answer_type=answer_type_of(gold),
            image=raw.get(self.image_field),
            extra={"answers": answers, "question_type": "ocr"},
        )


SOURCE = TextVQASource()
