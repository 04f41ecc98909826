"""DVQA (Kafle et al., CVPR 2018): questions about synthetic bar charts (structure, data, reasoning).

Data: ``vikhyatk/dvqa`` split ``train`` (200,000 charts, one row per chart). Fields used: ``image``
(undecoded bytes), ``qa`` (``[{question, answer}]``: several questions per chart; one is taken per row,
chosen by a hash of the row's questions, so a build is deterministic and questions of every kind appear).
Gold answer: the ``answer`` string. Licence: not stated on the dataset card (unverified; DVQA's
original release: CC BY-NC 4.0 per its authors' repository, unverified here).
"""

from __future__ import annotations

import hashlib
from typing import Any

from benchmarks.public._common import clean_text, content_id
from benchmarks.records import RecordError
from benchmarks.spec import EvalDoc
from benchmarks.training._common import TrainingSource, answer_type_of


class QAListSource(TrainingSource):
    """A chart set whose rows hold one image and a ``qa`` list of ``{question, answer}``."""

    answer_rule = "one qa pair per row (chosen by a hash of the row's questions): its answer string"

    def to_doc(self, raw: dict[str, Any]) -> EvalDoc:
        pairs = raw.get("qa")
        if not isinstance(pairs, list) or not pairs:
            raise RecordError("field 'qa': expected a non-empty list of {question, answer}")
        key = "\x1f".join(str(p.get("question", "")) if isinstance(p, dict) else "" for p in pairs)
        pair = pairs[int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) % len(pairs)]
        if not isinstance(pair, dict):
            raise RecordError("field 'qa': an entry is not a {question, answer} object")
        question, answer = clean_text(pair.get("question")), clean_text(pair.get("answer"))
        if question is None or answer is None:
            raise RecordError("field 'qa': an entry lacks its question or answer")
        return EvalDoc(
            id=content_id(self.name, key, question),
            question=question,
            answer=answer,
            answer_type=answer_type_of(answer.lower() if answer.lower() in ("yes", "no") else answer),
            image=raw.get(self.image_field),
            extra={"question_type": "chart"},
        )


class DVQASource(QAListSource):
    name = "dvqa"
    title = "DVQA (train)"
    category = "chart"
    dataset = "vikhyatk/dvqa"
    license = "unverified (no licence on the dataset card)"
    citation = "Kafle et al., 'DVQA: Understanding Data Visualizations via Question Answering' (CVPR 2018)"


SOURCE = DVQASource()
