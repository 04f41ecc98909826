"""lmms-eval hooks for srcal's exported built-in tasks (see :mod:`benchmarks.lmms_tasks`).

The hooks read rows of the exported ``datasets`` copy and delegate to srcal's own
prompt builder, parser and scorer, so lmms-eval's numbers equal srcal's on the same
responses. ``process_results`` returns ``accuracy`` (1/0) and ``parse_failure`` (1/0:
no answer could be read; never replaced by a guess).
"""

from __future__ import annotations

from typing import Any


def doc_to_visual(doc: dict[str, Any]) -> list[Any]:
    return [doc["image"].convert("RGB")]


def doc_to_text(doc: dict[str, Any], lmms_eval_specific_kwargs: dict[str, Any] | None = None) -> str:
    from benchmarks.prompts import build_prompt

    style = (lmms_eval_specific_kwargs or {}).get("prompt_style", "plain")
    return build_prompt(doc["question"], list(doc["choices"]) or None, style=style)


def process_results(doc: dict[str, Any], results: list[str]) -> dict[str, float]:
    from benchmarks.build import hf_row_to_item
    from benchmarks.registry import BENCHMARKS
    from benchmarks.scoring import FAILED_STATUSES

    spec = BENCHMARKS.get(doc["suite"])
    scored = spec.score(results[0] if results else "", spec.to_doc(hf_row_to_item(doc).to_dict()))
    return {
        "accuracy": float(scored["correct"]),
        "parse_failure": float(scored["parse_status"] in FAILED_STATUSES),
    }
