"""MMStar: 1,500 vision-indispensable multiple-choice questions (Chen et al., 2024).

Data: ``Lin-Chen/MMStar`` (config ``val``, split ``val``), the dataset lmms-eval's ``mmstar`` task
loads. Fields used: ``index`` (int), ``question`` (the question *with* its options inline,
``"...\\nOptions: A: x, B: y, C: z, D: w"``), ``answer`` (letter), ``category``, ``l2_category``,
``image``.

Official rule (lmms-eval ``mmstar/utils.py``, from the MMStar repo): the answer letter is
compared with the prediction's letter; the headline number is the accuracy averaged over the
18 ``l2_category`` groups (MMStar is balanced, so this is close to the plain accuracy).
Here the letter comes from ``benchmarks.parsing`` (explicit ``Answer:`` marker or a logged
fallback), never from a guess; an unparseable response is wrong and keeps its parse status.
The prompt is the raw question (options inline, as lmms-eval sends it) plus the style's
instruction; the options are also parsed out of the text so option-text answers resolve.
"""

from __future__ import annotations

import re
from typing import Any

from benchmarks.parsing import normalize_text
from benchmarks.public._common import (
    check_letter,
    group_accuracy,
    inline_options_prompt,
    require_text,
    summary_with_groups,
)
from benchmarks.records import LETTERS
from benchmarks.spec import BenchmarkSpec, EvalDoc, require

_OPTIONS = re.compile(r"\n?\s*Options\s*:\s*", re.IGNORECASE)


def split_inline_options(question: str) -> list[str] | None:
    """Option texts from ``"... Options: A: x, B: y, C: z"`` (letters in order), or ``None``."""
    marks = list(_OPTIONS.finditer(question))
    if not marks:
        return None
    tail = question[marks[-1].end() :]
    starts: list[tuple[int, int]] = []
    pos = 0
    for letter in LETTERS:
        match = re.compile(rf"(?:^|(?<=[\s,]))\(?{letter}\)?\s*[:.]\s*").search(tail, pos)
        if match is None:
            break
        starts.append((match.start(), match.end()))
        pos = match.end()
    if len(starts) < 2:
        return None
    options = []
    for i, (_, text_start) in enumerate(starts):
        end = starts[i + 1][0] if i + 1 < len(starts) else len(tail)
        options.append(tail[text_start:end].strip().rstrip(",").strip())
    return options if all(normalize_text(o) for o in options) else None


class MMStarSpec(BenchmarkSpec):
    name = "mmstar"
    title = "MMStar"
    category = "qa"
    dataset = "Lin-Chen/MMStar"
    dataset_config = "val"
    split = "val"
    image_field = "image"
    lmms_task = "mmstar"
    citation = (
        "Chen et al., 'Are We on the Right Way for Evaluating Large Vision-Language Models?' (2024), "
        "arXiv:2403.20330; scoring: lmms-eval tasks/mmstar/utils.py (letter match, l2-category average)"
    )

    def to_doc(self, raw: dict[str, Any]) -> EvalDoc:
        question = require_text(raw, "question")
        choices = split_inline_options(question)
        return EvalDoc(
            id=str(require(raw, "index")),
            question=question,
            answer=check_letter(require(raw, "answer"), choices),
            answer_type="multiple_choice",
            choices=choices,
            image=raw.get(self.image_field),
            extra={"category": require(raw, "category"), "l2_category": require(raw, "l2_category")},
        )

    def prompt(self, doc: EvalDoc, style: str = "plain") -> str:
        return inline_options_prompt(doc.question, doc.hint, style)

    def score(self, response: str | None, doc: EvalDoc) -> dict[str, Any]:
        row = super().score(response, doc)
        row.update(answer=doc.answer, category=doc.extra["category"], l2_category=doc.extra["l2_category"])
        return row

    def aggregate(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        summary = summary_with_groups(rows, category="category", l2_category="l2_category")
        l2 = group_accuracy(rows, lambda r: r.get("l2_category"))
        summary["l2_macro_accuracy"] = (
            sum(g["accuracy"] for g in l2.values()) / len(l2) if l2 else float("nan")
        )
        return summary


SPEC = MMStarSpec()
