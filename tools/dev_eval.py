"""A dev slice of the rft split and greedy evaluation on it: where tools choose settings, never on test.

`dev_slice` draws, stratified, from the rft items that neither rationale fine-tuning nor the R-Scorer's
pool uses (`calibrate.loop.Calibration.dev_pool`: the loop's own draws, same seed); `evaluate_dev` answers them greedily as the harness does
(bare prompts, the preset's ``eval.max_new_tokens``) and reports accuracy and the share of responses
with no parseable answer, per suite and pooled.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any


def dev_slice(spec: Any, n: int) -> tuple[Any, list[Any]]:
    """(the run's `Calibration`, its dev slice of ``n`` items): the loop's own draws decide what is free."""
    from calibrate.loop import Calibration

    calibration = Calibration(spec.calibration, "/nonexistent-run", spec.data)
    return calibration, calibration.dev_pool(n)


def evaluate_dev(
    model_dir: str, items: list[Any], data_dir: Path, max_new_tokens: int, **generate: Any
) -> dict[str, Any]:
    """Greedy accuracy and unparseable share of ``model_dir`` on ``items``, per suite and pooled.

    ``generate``: further `generate` keywords (e.g. ``repetition_penalty``), for measuring decoding levers.
    """
    from benchmarks.parsing import parse_response
    from benchmarks.paths import item_image_path
    from benchmarks.prompts import build_prompt
    from benchmarks.scoring import answers_match
    from calibrate.generation import generate_texts, load_rgb
    from calibrate.models import load_model

    loaded = load_model(model_dir)
    start = time.perf_counter()
    texts = generate_texts(
        loaded.model,
        loaded.processor,
        [load_rgb(item_image_path(data_dir, item)) for item in items],
        [build_prompt(item.question, item.choices, style="bare") for item in items],
        max_new_tokens=max_new_tokens,
        batch_size=32,
        **generate,
    )
    rows: dict[str, list[tuple[bool, bool]]] = {}
    responses = []
    for item, text in zip(items, texts):
        parsed = parse_response(text, item.answer_type, item.choices)
        right = answers_match(parsed.final_answer, item.answer, item.answer_type, item.choices)
        rows.setdefault(item.suite, []).append((bool(right), parsed.final_answer is None))
        responses.append(
            {
                "id": item.id,
                "suite": item.suite,
                "answer": item.answer,
                "parsed": parsed.final_answer,
                "correct": bool(right),
                "response": text,
            }
        )
    rows["all"] = [row for suite in list(rows) for row in rows[suite]]
    table = {
        suite: {
            "n": len(r),
            "accuracy": round(sum(a for a, _ in r) / len(r), 3),
            "unparseable": round(sum(u for _, u in r) / len(r), 3),
        }
        for suite, r in rows.items()
    }
    seconds = round(time.perf_counter() - start, 1)
    return {"model": model_dir, "seconds": seconds, "suites": table, "responses": responses}


def evaluate_into(
    report: dict[str, Any],
    models: list[str],
    items: list[Any],
    data_dir: Path,
    max_new_tokens: int,
    path: Path,
    **generate: Any,
) -> None:
    """`evaluate_dev` each of ``models`` into ``report["evaluations"]``, printed, and ``report`` saved to ``path`` after each.

    Each model's responses go to ``responses-K.jsonl`` beside ``path`` (K: its place in ``report``), not into the report.
    """
    from benchmarks.fileio import atomic_write_text

    for model in models:
        result = evaluate_dev(model, items, data_dir, max_new_tokens, **generate)
        responses = result.pop("responses")
        k = len(report.setdefault("evaluations", []))
        responses_path = path.with_name(f"responses-{k}.jsonl")
        atomic_write_text(responses_path, "".join(json.dumps(r) + "\n" for r in responses))
        result["responses"] = responses_path.name
        report["evaluations"].append(result)
        print(model, json.dumps(result["suites"]["all"]), f"{result['seconds']} s")
        atomic_write_text(path, json.dumps(report, indent=1))
