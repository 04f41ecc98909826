"""VQAv2 (Goyal et al., CVPR 2017): open questions about COCO images, 10 human answers each.

Data: ``HuggingFaceM4/VQAv2`` split ``train`` (443,757 questions; a loading script: give a local copy
with ``--source vqav2=DIR`` where ``datasets`` cannot run it). Fields used: ``question``, ``answers``
(``[{answer, answer_confidence, answer_id}]``), ``multiple_choice_answer`` (the most frequent answer),
``answer_type`` (``yes/no``, ``number``, ``other``), ``question_type``, ``question_id``, ``image``.
Gold answer: ``multiple_choice_answer`` after VQA normalisation (else the most frequent of ``answers``);
scored by VQA accuracy against all 10. Licence CC BY 4.0 (annotations; images COCO, CC BY 4.0).
"""

from __future__ import annotations

from typing import Any

from benchmarks.public._common import clean_text, content_id, require_text
from benchmarks.spec import EvalDoc
from benchmarks.training._common import VQASource, answer_strings, answer_type_of, vqa_gold, vqa_normalize


class VQAv2Source(VQASource):
    name = "vqav2"
    title = "VQAv2 (train)"
    category = "perception"
    dataset = "HuggingFaceM4/VQAv2"
    license = "CC BY 4.0 (VQA annotations; COCO images)"
    citation = "Goyal et al., 'Making the V in VQA Matter' (CVPR 2017), arXiv:1612.00837"

    def to_doc(self, raw: dict[str, Any]) -> EvalDoc:
        question = require_text(raw, "question")
        answers = answer_strings(raw, "answers")
        given = clean_text(raw.get("multiple_choice_answer"))
        gold = vqa_normalize(given) if given else vqa_gold(answers)
        kind = clean_text(raw.get("answer_type"))
        return EvalDoc(
            id=str(raw.get("question_id") or content_id(self.name, question, gold)),
            question=question,
            answer=gold,
            answer_type=answer_type_of(gold, kind),
            image=raw.get(self.image_field),
            extra={"answers": answers, "question_type": clean_text(raw.get("question_type")) or kind or ""},
        )


SOURCE = VQAv2Source()
