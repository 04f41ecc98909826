"""ChartQA: questions about charts, human-written and machine-generated (Masry et al., 2022).

Data: ``lmms-lab/ChartQA`` split ``test`` (2,500 questions; lmms-eval task ``chartqa``). Fields
used: ``question``, ``answer`` (string), ``type`` (``human_test`` / ``augmented_test``), ``image``.
The schema has no id: ``id`` is a hash of type, question and answer.

Category: ``reasoning`` (the human split is built for visual and logical reasoning over the
chart, per the paper's title and design; the augmented split is mostly extraction).

Official rule, relaxed accuracy (ChartQA paper sec. 5.1, following Methani et al.; the
pix2struct / lmms-eval ``relaxed_correctness``): both strings are converted with ``float()``,
a trailing ``%`` meaning value/100; if the prediction converts and the target converts to a
*non-zero* number, the answer is correct when ``|pred - target| / |target| <= 0.05``;
otherwise the two strings must be equal ignoring case. Consequences kept on purpose: a zero
target needs an exact string match (``"0"`` is right, ``"0.0"`` is wrong); ``"45%"`` equals
``"0.45"`` but not ``"45"``; ``float()`` rejects thousands separators, so ``"1,234"`` is compared
as a string and does not match ``"1234"`` (set ``strip_thousands_separators = True`` to drop
``,`` between digits first; off by default, as in the official rule).

What is compared: the *raw extracted answer* (the text after the last ``Answer:`` marker, or
the parser's fallback extraction), not the parser's normalised form (which lower-cases, drops
articles and punctuation). Only surrounding whitespace, markdown emphasis, quotes and one
trailing period are removed. A response with no readable answer is wrong and keeps its parse
status. ``aggregate`` reports relaxed accuracy overall and per ``type``.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from benchmarks.parsing import parse_response
from benchmarks.public._common import content_id, group_accuracy, require_text
from benchmarks.scoring import accuracy_summary
from benchmarks.spec import BenchmarkSpec, EvalDoc

MAX_RELATIVE_CHANGE = 0.05
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}\b)")


def _to_float(text: str) -> float | None:
    try:
        if text.endswith("%"):
            return float(text[:-1]) / 100.0
        return float(text)
    except ValueError:
        return None


def relaxed_correctness(
    prediction: str, target: str, max_relative_change: float = MAX_RELATIVE_CHANGE
) -> bool:
    """The official ChartQA relaxed match of one prediction string against one target string."""
    pred_value = _to_float(prediction)
    target_value = _to_float(target)
    if pred_value is not None and target_value:
        return abs(pred_value - target_value) / abs(target_value) <= max_relative_change
    return prediction.lower() == target.lower()


def clean_extracted(text: str) -> str:
    """The raw extracted answer minus surrounding whitespace, emphasis, quotes and one trailing period."""
    text = text.strip().strip("*_`\"'“”").strip()
    if text.endswith(".") and not text.endswith(".."):
        text = text[:-1].rstrip()
    return text


class ChartQASpec(BenchmarkSpec):
    name = "chartqa"
    title = "ChartQA"
    category = "reasoning"
    dataset = "lmms-lab/ChartQA"
    dataset_config = None
    split = "test"
    image_field = "image"
    lmms_task = "chartqa"
    citation = (
        "Masry et al., 'ChartQA: A Benchmark for Question Answering about Charts with Visual and Logical "
        "Reasoning' (Findings of ACL 2022), arXiv:2203.10244; scoring: relaxed accuracy (sec. 5.1) as in "
        "pix2struct and lmms-eval tasks/chartqa/utils.py relaxed_correctness"
    )
    strip_thousands_separators = False

    def to_doc(self, raw: dict[str, Any]) -> EvalDoc:
        question = require_text(raw, "question")
        answer = require_text(raw, "answer")
        kind = require_text(raw, "type")
        return EvalDoc(
            id=content_id(self.name, kind, question, answer),
            question=question,
            answer=answer,
            answer_type="text",
            image=raw.get(self.image_field),
            extra={"type": kind},
        )

    def score(self, response: str | None, doc: EvalDoc) -> dict[str, Any]:
        parsed = parse_response(response, "text")
        prediction = None
        if parsed.final_answer is not None and parsed.raw_answer is not None:
            prediction = clean_extracted(parsed.raw_answer)
            if self.strip_thousands_separators:
                prediction = _THOUSANDS.sub("", prediction)
        correct = bool(prediction) and relaxed_correctness(prediction, doc.answer)
        return {
            "rationale": parsed.rationale,
            "final_answer": parsed.final_answer,
            "raw_answer": parsed.raw_answer,
            "parse_status": parsed.parse_status,
            "prediction": prediction,
            "answer": doc.answer,
            "type": doc.extra["type"],
            "correct": bool(correct),
        }

    def with_gold(self, doc: EvalDoc, row: dict[str, Any]) -> EvalDoc:
        """The relaxed match reads the cleaned raw extraction (``prediction``), not the normalised answer."""
        if not row.get("prediction"):
            raise ValueError("the row has no prediction")
        return dataclasses.replace(doc, answer=row["prediction"])

    def aggregate(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        summary = accuracy_summary(rows)
        summary["relaxed_accuracy"] = summary["accuracy"]
        by_type = group_accuracy(rows, lambda r: r.get("type"))
        summary["by_type"] = by_type
        summary["relaxed_human_split"] = by_type.get("human_test", {}).get("accuracy", float("nan"))
        summary["relaxed_augmented_split"] = by_type.get("augmented_test", {}).get("accuracy", float("nan"))
        return summary


SPEC = ChartQASpec()
