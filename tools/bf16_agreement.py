"""Greedy outputs of a policy in bf16 vs fp32 on the built-in test suites: how many differ, how much faster.

    python -m tools.bf16_agreement --model srcal-tiny [--per-suite 30] [--max-new-tokens 136]
        [--batch-size 32] [--data DIR] [--json OUT]

Both passes decode the first ``--per-suite`` test items of every built-in suite greedily with
:func:`calibrate.generation.generate_texts` (the evaluation's path) on the bare prompt (the one RFT
and candidate search use), the model loaded once in fp32 and once in bf16 (weights cast, not
autocast). Reports per suite the number of responses that differ and the wall time of each pass.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    from PIL import Image

    from benchmarks.fileio import srcal_home
    from benchmarks.paths import item_image_path
    from benchmarks.prompts import build_prompt
    from benchmarks.records import read_items
    from calibrate.generation import generate_texts
    from calibrate.models import load_model
    from calibrate.zoo.names import resolve_model

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="srcal-tiny", help="Zoo name, directory or hub id.")
    parser.add_argument("--data", help="Built dataset (default: $SRCAL_HOME/data/default).")
    parser.add_argument("--per-suite", type=int, default=30)
    parser.add_argument("--max-new-tokens", type=int, default=136)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--json", help="Write the results here.")
    args = parser.parse_args(argv)
    data = Path(args.data) if args.data else srcal_home() / "data" / "default"
    by_suite: dict[str, list[Any]] = {}
    for item in read_items(data / "test.jsonl"):
        by_suite.setdefault(item.suite, []).append(item)
    items = [i for suite in sorted(by_suite) for i in by_suite[suite][: args.per_suite]]
    images = [Image.open(item_image_path(data, i)).convert("RGB") for i in items]
    prompts = [build_prompt(i.question, i.choices, style="bare") for i in items]
    model_dir = resolve_model(args.model)
    texts, seconds = {}, {}
    for dtype in ("fp32", "bf16"):
        loaded = load_model(model_dir, dtype=dtype, device="cpu")
        generate_texts(loaded.model, loaded.processor, images[:2], prompts[:2], max_new_tokens=4)
        started = time.perf_counter()
        texts[dtype] = generate_texts(
            loaded.model,
            loaded.processor,
            images,
            prompts,
            max_new_tokens=args.max_new_tokens,
            batch_size=args.batch_size,
        )
        seconds[dtype] = time.perf_counter() - started
        del loaded
    differ: dict[str, int] = {}
    for item, a, b in zip(items, texts["fp32"], texts["bf16"]):
        differ[item.suite] = differ.get(item.suite, 0) + (a != b)
    report = {
        "model": str(model_dir),
        "items": len(items),
        "per_suite": args.per_suite,
        "max_new_tokens": args.max_new_tokens,
        "differ": differ,
        "differ_total": sum(differ.values()),
        "seconds": {k: round(v, 1) for k, v in seconds.items()},
        "speedup": round(seconds["fp32"] / seconds["bf16"], 2),
    }
    print(json.dumps(report, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    return report


if __name__ == "__main__":
    main()
