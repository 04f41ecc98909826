"""MathVista testmini: mathematical reasoning in visual contexts (Lu et al., ICLR 2024).

Data: ``AI4Math/MathVista`` split ``testmini`` (1,000 problems; lmms-eval task
``mathvista_testmini``). Fields used: ``pid``, ``question``, ``query`` (the full official
prompt: hint, question and ``Choices: (A) ...``), ``choices`` (list or null), ``answer``
(string), ``question_type`` (``multi_choice`` / ``free_form``), ``answer_type`` (``text`` /
``integer`` / ``float`` / ``list``), ``precision`` (decimals for float answers), ``unit``,
``metadata`` (``category``, ``task``, ``context``, ``grade``, ``language``, ``source``,
``skills``), ``decoded_image`` (the image; ``image`` holds only its file name).

Prompt: the ``query`` field when present (it is the official prompt and already states the
expected answer form), else question and choices; the style adds its instruction.

Official rule (MathVista ``evaluation/calculate_score.py``, also lmms-eval
``mathvista_evals.py``): the extracted answer is normalised with ``normalize_extracted_answer``
and must then equal ``answer`` as a string:

* ``multi_choice``: a letter becomes its choice text; ``(X)`` inside the text is read as letter
  X; anything else becomes the *most similar choice* by edit distance. The parser already maps
  letters and exact option texts; the edit-distance fallback is applied only when an answer
  was written but is neither, and is marked ``parse_status="fallback_most_similar"``
  (``fallback_paren_letter`` for the ``(X)`` rule) so it is counted; it can be switched off
  with ``most_similar_fallback = False``. A response with no answer at all stays a failure
  (the official script would pick the choice closest to an empty string);
* ``integer``: ``str(int(float(x)))`` (so ``3.7`` becomes ``"3"``, as officially);
* ``float``: ``str(round(float(x), precision))``;
* ``list``: ``str(list)``: the raw extracted answer is read as a Python literal
  (``[2007, 2008]`` or ``2007, 2008``) and printed as a list, else compared as written.

Here the extraction is ``benchmarks.parsing`` (explicit ``Answer:`` marker or logged
fallback) instead of the official GPT-based extractor. ``aggregate`` reports accuracy overall
and per question type, answer type and metadata field (skills counted per skill).
"""

from __future__ import annotations

import ast
import dataclasses
import math
import re
from typing import Any

from benchmarks.parsing import parse_response
from benchmarks.prompts import MC_SHORT, RATIONALE, RATIONALE_MC, build_prompt
from benchmarks.public._common import check_style, clean_text, group_accuracy, require_text
from benchmarks.records import LETTERS, RecordError
from benchmarks.scoring import accuracy_summary
from benchmarks.spec import BenchmarkSpec, EvalDoc, require

QUESTION_TYPES = ("multi_choice", "free_form")
ANSWER_TYPES = ("text", "integer", "float", "list")
METADATA_KEYS = ("category", "task", "context", "grade", "language", "source")
STATUS_MOST_SIMILAR = "fallback_most_similar"
STATUS_PAREN_LETTER = "fallback_paren_letter"
_PAREN_LETTER = re.compile(r"\(([a-zA-Z])\)")


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance (insertions, deletions, substitutions all cost 1)."""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        current = [i]
        for j, cb in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def most_similar(text: str, choices: list[str]) -> str:
    """The choice closest to ``text`` by edit distance (the first one on ties, as officially)."""
    distances = [edit_distance(text, c) for c in choices]
    return choices[distances.index(min(distances))]


def list_answer(text: str) -> str:
    """``str(list)`` of an extracted list answer, or the text as written when it is not a literal."""
    try:
        value = ast.literal_eval(text.strip())
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text.strip()
    if isinstance(value, list | tuple):
        return str(list(value))
    return text.strip()


def _precision(value: Any) -> int | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return int(value)


def format_instruction(question_type: str, answer_type: str, precision: int | None) -> str:
    """The short answer-format instruction of lmms-eval's ``format-prompt`` shot type."""
    if question_type == "multi_choice":
        return MC_SHORT
    if answer_type == "integer":
        return "Answer the question using a single integer number."
    if answer_type == "float":
        words = {1: "one decimal place", 2: "two decimal places"}
        places = words.get(precision or 0, f"{precision} decimal places")
        return f"Answer the question using a single floating-point number with {places}."
    if answer_type == "list":
        return "Answer the question using a Python list."
    return "Answer the question using a single word or phrase."


class MathVistaTestminiSpec(BenchmarkSpec):
    name = "mathvista_testmini"
    title = "MathVista (testmini)"
    category = "reasoning"
    dataset = "AI4Math/MathVista"
    dataset_config = None
    split = "testmini"
    image_field = "decoded_image"
    lmms_task = "mathvista_testmini"
    citation = (
        "Lu et al., 'MathVista: Evaluating Mathematical Reasoning of Foundation Models in Visual Contexts' "
        "(ICLR 2024), arXiv:2310.02255; scoring: MathVista evaluation/calculate_score.py "
        "(normalize_extracted_answer + exact match)"
    )
    most_similar_fallback = True

    def to_doc(self, raw: dict[str, Any]) -> EvalDoc:
        question_type = require(raw, "question_type")
        answer_type = require(raw, "answer_type")
        if question_type not in QUESTION_TYPES:
            raise RecordError(f"field 'question_type': {question_type!r} not in {QUESTION_TYPES}")
        if answer_type not in ANSWER_TYPES:
            raise RecordError(f"field 'answer_type': {answer_type!r} not in {ANSWER_TYPES}")
        answer = str(require(raw, "answer")).strip()
        choices = [str(c) for c in (raw.get("choices") or [])] or None
        precision = _precision(raw.get("precision"))
        if question_type == "multi_choice":
            if not choices or len(choices) < 2:
                raise RecordError("field 'choices': a multi_choice problem needs at least two choices")
            if answer not in choices:
                raise RecordError(f"field 'answer': {answer!r} is not one of the choices")
            gold, doc_type = LETTERS[choices.index(answer)], "multiple_choice"
        else:
            gold = answer
            doc_type = {"integer": "integer", "float": "float"}.get(answer_type, "text")
        query = clean_text(raw.get("query"))
        metadata = raw.get("metadata") or {}
        extra: dict[str, Any] = {
            "mv_answer": answer,
            "question_type": question_type,
            "mv_answer_type": answer_type,
            "precision": precision,
            "unit": clean_text(raw.get("unit")),
            "query": query,
            "skills": list(metadata.get("skills") or []),
        }
        extra.update({k: metadata.get(k) for k in METADATA_KEYS})
        return EvalDoc(
            id=str(require(raw, "pid")),
            question=query or require_text(raw, "question"),
            answer=gold,
            answer_type=doc_type,
            choices=choices,
            image=raw.get(self.image_field),
            extra=extra,
        )

    def prompt(self, doc: EvalDoc, style: str = "plain") -> str:
        check_style(style)
        qtype, atype = doc.extra["question_type"], doc.extra["mv_answer_type"]
        if doc.extra.get("query"):
            text = build_prompt(doc.question, None, None, "bare")
        else:
            text = build_prompt(doc.question, doc.choices, None, "bare")
        if style == "plain":
            text += "\n" + format_instruction(qtype, atype, doc.extra["precision"])
        elif style == "rationale":
            text += "\n" + (RATIONALE_MC if qtype == "multi_choice" else RATIONALE)
        return text

    def normalize(self, parsed: Any, doc: EvalDoc) -> tuple[str | None, str]:
        """(normalised prediction, parse status) following ``normalize_extracted_answer``."""
        qtype, atype = doc.extra["question_type"], doc.extra["mv_answer_type"]
        status = parsed.parse_status
        final, raw = parsed.final_answer, parsed.raw_answer
        if qtype == "multi_choice":
            choices = doc.choices or []
            if final is not None:
                return choices[LETTERS.index(final)], status
            extraction = (raw or "").strip()
            if not extraction or not self.most_similar_fallback:
                return None, status
            letters = _PAREN_LETTER.findall(extraction)
            if letters and letters[0].upper() in LETTERS[: len(choices)]:
                return choices[LETTERS.index(letters[0].upper())], STATUS_PAREN_LETTER
            return most_similar(extraction, choices), STATUS_MOST_SIMILAR
        if final is None:
            return None, status
        if atype == "integer":
            return str(int(float(final))), status
        if atype == "float":
            return str(round(float(final), doc.extra["precision"])), status
        if atype == "list":
            return list_answer(raw if raw is not None else final), status
        return (raw if raw is not None else final).strip(), status

    def score(self, response: str | None, doc: EvalDoc) -> dict[str, Any]:
        parsed = parse_response(response, doc.answer_type, doc.choices)
        prediction, status = self.normalize(parsed, doc)
        correct = prediction is not None and prediction.strip() == doc.extra["mv_answer"]
        row = {
            "rationale": parsed.rationale,
            "final_answer": parsed.final_answer,
            "raw_answer": parsed.raw_answer,
            "parse_status": status,
            "prediction": prediction,
            "answer": doc.extra["mv_answer"],
            "correct": bool(correct),
            "question_type": doc.extra["question_type"],
            "answer_type": doc.extra["mv_answer_type"],
            "skills": doc.extra["skills"],
        }
        row.update({k: doc.extra[k] for k in METADATA_KEYS})
        return row

    def with_gold(self, doc: EvalDoc, row: dict[str, Any]) -> EvalDoc:
        """The scorer compares normalised predictions with ``extra["mv_answer"]``: the row's goes there."""
        if row.get("prediction") is None:
            raise ValueError("the row has no normalised prediction")
        extra = {**doc.extra, "mv_answer": row["prediction"]}
        return dataclasses.replace(doc, answer=row["final_answer"], extra=extra)

    def aggregate(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        summary = accuracy_summary(rows)
        summary["most_similar_fallbacks"] = sum(
            1 for r in rows if r.get("parse_status") == STATUS_MOST_SIMILAR
        )
        for key in ("question_type", "answer_type", *METADATA_KEYS):
            summary[f"by_{key}"] = group_accuracy(rows, lambda r, k=key: r.get(k))
        exploded = [dict(r, skill=s) for r in rows for s in r.get("skills") or []]
        summary["by_skill"] = group_accuracy(exploded, lambda r: r["skill"])
        return summary


SPEC = MathVistaTestminiSpec()
