"""ChartQA (Masry et al., 2022), training split: questions about charts, human-written and generated.

Data: ``HuggingFaceM4/ChartQA`` split ``train`` (28,299 questions; its ``test`` split is what the
``chartqa`` benchmark evaluates). Fields used: ``query``, ``label`` (a list; the answer is its first
entry), ``human_or_machine`` (0 human, 1 machine), ``image``. Gold answer: ``label[0]``; scored by
ChartQA's relaxed accuracy (`benchmarks.public.chartqa`). Licence GPL-3.0.
"""

from __future__ import annotations

from typing import Any

from benchmarks.public._common import clean_text, content_id, require_text
from benchmarks.public.chartqa import ChartQASpec
from benchmarks.records import RecordError
from benchmarks.spec import EvalDoc, require
from benchmarks.training._common import TrainingSource, answer_type_of


class ChartQATrainSource(TrainingSource, ChartQASpec):
    name = "chartqa_train"
    title = "ChartQA (train)"
    category = "chart"
    dataset = "HuggingFaceM4/ChartQA"
    split = "train"
    lmms_task = None
    license = "GPL-3.0"
    answer_rule = "label[0]; scored by ChartQA relaxed accuracy (5% numeric tolerance)"

    def to_doc(self, raw: dict[str, Any]) -> EvalDoc:
        question = require_text(raw, "query")
        label = require(raw, "label")
        labels = label if isinstance(label, list) else [label]
        answer = clean_text(labels[0]) if labels else None
        if answer is None:
            raise RecordError("field 'label': no answer")
        kind = {0: "human", 1: "machine"}.get(
            raw.get("human_or_machine"), str(raw.get("human_or_machine", ""))
        )
        return EvalDoc(
            id=content_id(self.name, kind, question, answer),
            question=question,
            answer=answer,
            answer_type=answer_type_of(answer),
            image=raw.get(self.image_field),
            extra={"type": kind, "question_type": kind},
        )


SOURCE = ChartQATrainSource()
