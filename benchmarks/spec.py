"""Benchmark specifications: how to load, prompt, parse and score one benchmark.

Every benchmark, built-in or public, is a :class:`BenchmarkSpec`. A spec maps one raw
document *in the benchmark's own schema* to an :class:`EvalDoc` (``to_doc``), builds
prompts from it, scores a response (``score``) and aggregates scored rows
(``aggregate``). Public benchmarks override what their official rules need.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.parsing import parse_response
from benchmarks.prompts import build_prompt
from benchmarks.records import BenchmarkItem, RecordError
from benchmarks.scoring import accuracy_summary, answers_match


@dataclass
class EvalDoc:
    """A benchmark document normalised for prompting and scoring.

    Attributes:
        id: the document's id in its benchmark.
        question: question text without options.
        answer: gold answer in the form the scorer compares (a letter for multiple choice).
        answer_type: ``multiple_choice``, ``yes_no``, ``integer``, ``float`` or ``text``.
        choices: option texts, for multiple choice.
        hint: context shown before the question (MMBench/ScienceQA hints), if any.
        image: a PIL image, an image path, or ``None``.
        extra: benchmark-specific fields the scorer needs (precision, group keys, ...).
    """

    id: str
    question: str
    answer: str
    answer_type: str
    choices: list[str] | None = None
    hint: str | None = None
    image: Any = None
    extra: dict[str, Any] = field(default_factory=dict)


def require(raw: dict[str, Any], name: str) -> Any:
    """``raw[name]``, or a RecordError naming the missing field."""
    if name not in raw:
        raise RecordError(f"field {name!r}: missing")
    return raw[name]


class BenchmarkSpec:
    """Base class of every benchmark spec.

    Attributes:
        name: registry name (``chartqa``, ``easyvqa``, ...).
        title: display name.
        category: ``perception`` / ``chart`` / ``math_science`` (built-in suites) or
            ``qa`` / ``reasoning`` / ``hallucination`` (public benchmarks).
        dataset: Hugging Face dataset id of the real data (``None`` for built-in suites).
        dataset_config: dataset configuration name, if any.
        split: split evaluated.
        image_field: the raw schema's image field.
        lmms_task: the matching lmms-eval task name.
        citation: where the benchmark and its scoring rule come from.
        row_filter: rows to keep when loading, ``{column: (allowed values, ...)}``.
    """

    name: str = ""
    title: str = ""
    category: str = ""
    dataset: str | None = None
    dataset_config: str | None = None
    split: str = "test"
    image_field: str = "image"
    lmms_task: str | None = None
    citation: str = ""
    row_filter: dict[str, tuple[Any, ...]] | None = None

    def to_doc(self, raw: dict[str, Any]) -> EvalDoc:
        raise NotImplementedError

    def prompt(self, doc: EvalDoc, style: str = "plain") -> str:
        return build_prompt(doc.question, doc.choices, doc.hint, style)

    def score(self, response: str | None, doc: EvalDoc) -> dict[str, Any]:
        """Parse ``response`` and compare with the gold answer; returns the per-sample fields."""
        parsed = parse_response(response, doc.answer_type, doc.choices)
        correct = answers_match(parsed.final_answer, doc.answer, doc.answer_type, doc.choices)
        return {
            "rationale": parsed.rationale,
            "final_answer": parsed.final_answer,
            "raw_answer": parsed.raw_answer,
            "parse_status": parsed.parse_status,
            "correct": bool(correct),
        }

    def with_gold(self, doc: EvalDoc, row: dict[str, Any]) -> EvalDoc:
        """``doc`` with the answer of the scored ``row`` in the gold answer's place.

        Every field :meth:`score` compares against must be replaced, so that scoring
        another response against the result asks "is this the same answer as the row's?"
        (benchmarks whose scorer reads the gold from ``extra`` override this).
        """
        return dataclasses.replace(doc, answer=row["final_answer"])

    def same_answer(self, answer: str | None, row: dict[str, Any], doc: EvalDoc) -> bool | None:
        """Whether ``answer`` (a normalised answer to ``doc``) equals the scored ``row``'s final answer.

        Decided by the benchmark's own matching rule (ChartQA's relaxed accuracy, MathVista's
        normalisation, ...) with the row's answer taking the gold's place; the gold answer
        never enters. ``None`` (undecided) when either answer is missing or cannot be compared.
        """
        if answer is None or row.get("final_answer") is None:
            return None
        try:
            return bool(self.score(f"Answer: {answer}", self.with_gold(doc, row))["correct"])
        except (ValueError, KeyError):
            return None

    def aggregate(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        """Benchmark metrics over scored rows (default: accuracy and parse failures)."""
        return accuracy_summary(rows)

    def load(self, source: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        """Raw documents from a hub id or a local directory (see ``benchmarks.loading``)."""
        from benchmarks.loading import load_rows

        return load_rows(self, source, limit=limit)


class BuiltinBenchmark(BenchmarkSpec):
    """The spec of a built-in suite: raw documents are ``BenchmarkItem`` records."""

    def __init__(self, suite: Any) -> None:
        self.suite = suite
        self.name = suite.info.name
        self.title = suite.info.name
        self.category = suite.info.category
        self.dataset = None
        self.split = "test"
        self.lmms_task = f"srcal_{suite.info.name}"
        self.citation = f"srcal built-in suite ({suite.info.source}; {suite.info.license})"

    def to_doc(self, raw: dict[str, Any]) -> EvalDoc:
        item = raw if isinstance(raw, BenchmarkItem) else BenchmarkItem.from_dict(raw)
        return EvalDoc(
            id=item.id,
            question=item.question,
            answer=item.answer,
            answer_type=item.answer_type,
            choices=item.choices,
            image=item.image,
            extra={"facts": item.facts, "question_type": item.question_type},
        )

    def score(self, response: str | None, doc: EvalDoc) -> dict[str, Any]:
        row = super().score(response, doc)
        checks = self.suite.check_rationale(row["rationale"], doc.extra.get("facts", {}))
        row["claims_checked"] = len(checks)
        row["claims_true"] = sum(1 for c in checks if c.true)
        return row

    def aggregate(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        summary = accuracy_summary(rows)
        checked = sum(r.get("claims_checked", 0) for r in rows)
        summary["claims_checked"] = checked
        summary["claim_accuracy"] = (
            sum(r.get("claims_true", 0) for r in rows) / checked if checked else float("nan")
        )
        return summary

    def load(self, source: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        """Items of this suite from a built dataset directory's ``test.jsonl`` (``srcal data build``).

        An image path that leaves the dataset directory raises
        :class:`~benchmarks.paths.DataPathError` (file, line, field); nothing is opened.
        """
        if source is None:
            raise RecordError(
                f"built-in benchmark {self.name!r} needs a dataset directory (srcal data build)"
            )
        path = Path(source)
        path = path / "test.jsonl" if path.is_dir() else path
        from benchmarks.paths import item_image_path
        from benchmarks.records import read_items

        items = [i for i in read_items(path) if i.suite == self.name]
        items = items[:limit] if limit else items
        for item in items:  # refuse a path that leaves the dataset here, where its line is known
            item_image_path(path.parent, item)
        return [i.to_dict() for i in items]
