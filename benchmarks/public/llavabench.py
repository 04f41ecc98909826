"""LLaVA-Bench (In-the-Wild): 60 open-ended questions on 24 diverse images (Liu et al., 2023).

Data: ``lmms-lab/llava-bench-in-the-wild`` split ``train`` (the only split; lmms-eval task
``llava_in_the_wild``). Fields used: ``question_id`` (int), ``question``, ``caption`` (the
human-written image description given to the judge as context), ``gpt_answer`` (the GPT-4
reference answer), ``category`` (``conv`` / ``detail`` / ``complex``), ``image``.

Official rule (LLaVA ``eval_gpt_review_bench.py`` + ``summarize_gpt_review.py``; lmms-eval
``llava-in-the-wild/utils.py``): a judge LLM sees the caption, the question, the reference
answer (Assistant 1) and the model answer (Assistant 2) and rates both from 1 to 10; the score
is ``100 * sum(model scores) / sum(reference scores)``, overall and per category. The judge is
pluggable (``benchmarks.judges``: ``SRCAL_JUDGE=file|openai`` or a judge passed to the spec);
scoring without one raises :class:`JudgeNotConfiguredError`. Items the judge fails on are kept
with ``judge_status="failed"`` and left out of the ratio (lmms-eval would count them as
``-1``), and counted in ``judge_failures``. There is no per-item correctness: ``correct`` is
``None`` and the per-item ``relative_score`` is ``model / reference``. The prompt is the
question alone (lmms-eval adds nothing) for every style.

The judge always sees the whole response. When the response ends with an explicit
``Answer: ...`` line after a rationale, ``rationale`` and ``final_answer`` are split there
(``explicit_answer``), and rationale-answer consistency compares the implied and final
answers as normalised text; without such a line consistency is undecided.
"""

from __future__ import annotations

import os
from typing import Any

from benchmarks.judges import Judge, JudgeError, judge_from_env
from benchmarks.parsing import normalize_answer, parse_response
from benchmarks.public._common import check_style, clean_text, require_text
from benchmarks.records import RecordError
from benchmarks.spec import BenchmarkSpec, EvalDoc, require

CATEGORIES = ("conv", "detail", "complex")
_JUDGE_ENV = (
    "SRCAL_JUDGE",
    "SRCAL_JUDGE_FILE",
    "SRCAL_JUDGE_BASE_URL",
    "SRCAL_JUDGE_MODEL",
    "SRCAL_JUDGE_API_KEY",
)


def relative_score(rows: list[dict[str, Any]]) -> float:
    """``100 * sum(model) / sum(reference)`` over judged rows (NaN when none)."""
    judged = [r for r in rows if r.get("judge_status") == "ok"]
    reference = sum(r["reference_score"] for r in judged)
    return 100.0 * sum(r["model_score"] for r in judged) / reference if reference else float("nan")


class LlavaBenchWildSpec(BenchmarkSpec):
    name = "llava_bench_wild"
    title = "LLaVA-Bench (In-the-Wild)"
    category = "qa"
    dataset = "lmms-lab/llava-bench-in-the-wild"
    dataset_config = None
    split = "train"
    image_field = "image"
    lmms_task = "llava_in_the_wild"
    citation = (
        "Liu et al., 'Visual Instruction Tuning' (NeurIPS 2023), arXiv:2304.08485; scoring: LLaVA "
        "eval_gpt_review_bench.py rule (judge scores 1-10, 100 * model / reference) as in lmms-eval "
        "tasks/llava-in-the-wild"
    )

    def __init__(self, judge: Judge | None = None) -> None:
        self.judge = judge
        self._env_judge: Judge | None = None
        self._env_key: tuple[str | None, ...] | None = None

    def get_judge(self) -> Judge:
        """The judge given to the spec, else the one configured by ``SRCAL_JUDGE`` (cached per setting)."""
        if self.judge is not None:
            return self.judge
        key = tuple(os.environ.get(k) for k in _JUDGE_ENV)
        if self._env_judge is None or key != self._env_key:
            self._env_judge, self._env_key = judge_from_env(), key
        return self._env_judge

    def to_doc(self, raw: dict[str, Any]) -> EvalDoc:
        category = require_text(raw, "category")
        if category not in CATEGORIES:
            raise RecordError(f"field 'category': {category!r} not in {CATEGORIES}")
        caption = require(raw, "caption")
        context = (
            "\n".join(str(c) for c in caption) if isinstance(caption, list) else clean_text(caption) or ""
        )
        return EvalDoc(
            id=str(require(raw, "question_id")),
            question=require_text(raw, "question"),
            answer=require_text(raw, "gpt_answer"),
            answer_type="text",
            image=raw.get(self.image_field),
            extra={"category": category, "context": context, "image_id": raw.get("image_id")},
        )

    def prompt(self, doc: EvalDoc, style: str = "plain") -> str:
        check_style(style)
        return doc.question.strip()

    def score(self, response: str | None, doc: EvalDoc) -> dict[str, Any]:
        judge = self.get_judge()
        text = (response or "").strip()
        parsed = parse_response(text, "text")
        explicit = parsed.parse_status == "ok" and bool(parsed.rationale)
        row: dict[str, Any] = {
            "rationale": parsed.rationale if explicit else text,
            "final_answer": (parsed.final_answer if explicit else text) or None,
            "raw_answer": (parsed.raw_answer if explicit else text) or None,
            "explicit_answer": explicit,
            "parse_status": "ok" if text else "invalid",
            "correct": None,
            "question_id": doc.id,
            "category": doc.extra["category"],
            "reference_score": None,
            "model_score": None,
            "relative_score": None,
            "judge_status": "ok",
        }
        try:
            reference, model = judge.judge(
                doc.question, doc.extra["context"], doc.answer, text, question_id=doc.id
            )
        except JudgeError as exc:
            row.update(judge_status="failed", judge_error=str(exc))
            return row
        row.update(
            reference_score=float(reference),
            model_score=float(model),
            relative_score=float(model) / float(reference) if reference else None,
        )
        return row

    def same_answer(self, answer: str | None, row: dict[str, Any], doc: EvalDoc) -> bool | None:
        """Equal normalised text; undecided unless the response ended with an explicit ``Answer:`` line.

        Open-ended answers have no official matching rule (a judge scores the whole response),
        so rationale-answer consistency is only defined for responses that state a final answer.
        """
        final = row.get("final_answer")
        if answer is None or final is None or not row.get("explicit_answer"):
            return None
        a, b = normalize_answer(answer, "text"), normalize_answer(final, "text")
        return None if a is None or b is None else a == b

    def aggregate(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        judged = [r for r in rows if r.get("judge_status") == "ok"]
        nan = float("nan")
        summary: dict[str, Any] = {
            "n": len(rows),
            "n_judged": len(judged),
            "judge_failures": len(rows) - len(judged),
            "parse_failures": sum(1 for r in rows if r.get("parse_status") == "invalid"),
            "score": relative_score(rows),
            "reference_mean": sum(r["reference_score"] for r in judged) / len(judged) if judged else nan,
            "model_mean": sum(r["model_score"] for r in judged) / len(judged) if judged else nan,
        }
        summary["by_category"] = {
            c: {
                "n": sum(1 for r in rows if r["category"] == c),
                "score": relative_score([r for r in rows if r["category"] == c]),
            }
            for c in CATEGORIES
            if any(r["category"] == c for r in rows)
        }
        return summary


SPEC = LlavaBenchWildSpec()
