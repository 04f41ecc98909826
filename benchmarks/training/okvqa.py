"""OK-VQA (Marino et al., CVPR 2019): questions about COCO images that need outside knowledge.

Data: ``HuggingFaceM4/OK-VQA`` split ``train`` (9,009 questions; a loading script: parquet copies such
as ``Multimodal-Fatima/OK-VQA_train`` load with ``--source okvqa=DIR``). Fields used: ``question``,
``answers`` (10 answers: ``[{answer, raw_answer, ...}]``, or plain strings in the parquet copies),
``question_type``, ``answer_type``, ``question_id``, ``image``. Gold answer: the most frequent answer
after VQA normalisation; scored by VQA accuracy. Licence CC BY 4.0 (annotations; COCO images).
"""

from __future__ import annotations

from typing import Any

from benchmarks.public._common import clean_text, content_id, require_text
from benchmarks.spec import EvalDoc
from benchmarks.training._common import VQASource, answer_strings, answer_type_of, vqa_gold


class OKVQASource(VQASource):
    name = "okvqa"
    title = "OK-VQA (train)"
    category = "perception"
    dataset = "HuggingFaceM4/OK-VQA"
    license = "CC BY 4.0 (OK-VQA annotations; COCO images)"
    citation = "Marino et al., 'OK-VQA: A Visual Question Answering Benchmark Requiring External Knowledge' (CVPR 2019)"

    def to_doc(self, raw: dict[str, Any]) -> EvalDoc:
        question = require_text(raw, "question")
        answers = answer_strings(raw, "answers")
        gold = vqa_gold(answers)
        return EvalDoc(
            id=str(raw.get("question_id") or content_id(self.name, question, gold)),
            question=question,
            answer=gold,
            answer_type=answer_type_of(gold, clean_text(raw.get("answer_type"))),
            image=raw.get(self.image_field),
            extra={"answers": answers, "question_type": clean_text(raw.get("question_type")) or ""},
        )


SOURCE = OKVQASource()
