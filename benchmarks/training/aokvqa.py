"""A-OKVQA (Schwenk et al., ECCV 2022): knowledge questions about COCO images, with options and rationales.

Data: ``HuggingFaceM4/A-OKVQA`` split ``train`` (17.1K questions, parquet). Fields used: ``question``,
``choices`` (4 options), ``correct_choice_idx``, ``rationales`` (3 human rationales: the first becomes
the item's rationale target), ``question_id``, ``image``. Gold answer: the letter of
``correct_choice_idx`` (the multiple-choice setting). Licence: not stated on the dataset card
(unverified; images COCO 2017, CC BY 4.0).
"""

from __future__ import annotations

from typing import Any

from benchmarks.public._common import content_id, index_letter, require_text
from benchmarks.records import RecordError
from benchmarks.spec import EvalDoc, require
from benchmarks.training._common import TrainingSource


class AOKVQASource(TrainingSource):
    name = "aokvqa"
    title = "A-OKVQA (train)"
    category = "perception"
    dataset = "HuggingFaceM4/A-OKVQA"
    license = "unverified (no licence on the dataset card; COCO images CC BY 4.0)"
    answer_rule = "the option at correct_choice_idx (multiple choice); rationale: the first human rationale"
    citation = "Schwenk et al., 'A-OKVQA: A Benchmark for Visual Question Answering using World Knowledge' (ECCV 2022)"

    def to_doc(self, raw: dict[str, Any]) -> EvalDoc:
        question = require_text(raw, "question")
        choices = require(raw, "choices")
        if not isinstance(choices, list) or len(choices) < 2:
            raise RecordError("field 'choices': expected a list of at least two options")
        choices = [str(c) for c in choices]
        rationales = raw.get("rationales") or []
        if not isinstance(rationales, list):
            raise RecordError("field 'rationales': expected a list of strings")
        return EvalDoc(
            id=str(raw.get("question_id") or content_id(self.name, question, "|".join(choices))),
            question=question,
            answer=index_letter(require(raw, "correct_choice_idx"), choices, "correct_choice_idx"),
            answer_type="multiple_choice",
            choices=choices,
            image=raw.get(self.image_field),
            extra={"rationale": str(rationales[0]) if rationales else "", "question_type": "knowledge"},
        )


SOURCE = AOKVQASource()
