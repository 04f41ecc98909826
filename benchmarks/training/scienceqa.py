"""ScienceQA (Lu et al., NeurIPS 2022), training split: science multiple choice with an image context.

Data: ``lmms-lab/ScienceQA`` config ``ScienceQA-IMG`` split ``train`` (6,218 questions with images; its
``test`` split is what the ``scienceqa_img`` benchmark evaluates). The schema of `benchmarks.public.scienceqa`
(``question``, ``choices``, ``answer`` index, ``hint``, ``image``) plus ``solution``, the human
explanation, which becomes the item's rationale target. Gold answer: the letter of ``answer``.
Licence CC BY-NC-SA 4.0.
"""

from __future__ import annotations

from typing import Any

from benchmarks.public._common import clean_text
from benchmarks.public.scienceqa import ScienceQAImageSpec
from benchmarks.spec import EvalDoc
from benchmarks.training._common import TrainingSource


class ScienceQATrainSource(TrainingSource, ScienceQAImageSpec):
    name = "scienceqa_train"
    title = "ScienceQA-IMG (train)"
    category = "math_science"
    split = "train"
    lmms_task = None
    license = "CC BY-NC-SA 4.0"
    answer_rule = "the letter of the answer index; rationale: the human solution"

    def to_doc(self, raw: dict[str, Any]) -> EvalDoc:
        doc = ScienceQAImageSpec.to_doc(self, raw)
        doc.extra.update(
            rationale=clean_text(raw.get("solution")) or "", question_type=doc.extra.get("subject") or ""
        )
        return doc


SOURCE = ScienceQATrainSource()
