"""Gold rationale lengths per suite, in the policy tokenizer's tokens: what generation budgets must cover.

    python -m tools.rationale_lengths [--data DIR] [--tokenizer DIR_OR_ZOO_PART]

Counts ``<rationale>\\nAnswer: <answer>`` + EOS for every item of the rft, calib and test splits of a
built dataset (default ``$SRCAL_HOME/data/default``) with SmolLM2's tokenizer (srcal-tiny's), and
prints p50 / p90 / p99 / max per suite and the share longer than 64 tokens. The ``tiny`` preset's
``max_new_tokens`` is the largest p99.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path


def main(argv: Sequence[str] | None = None) -> dict[str, dict[str, float]]:
    import numpy as np
    from transformers import AutoTokenizer

    from benchmarks.fileio import srcal_home
    from benchmarks.records import read_items

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", help="Built dataset (default: $SRCAL_HOME/data/default).")
    parser.add_argument("--tokenizer", help="Tokenizer directory (default: the SmolLM2 part).")
    args = parser.parse_args(argv)
    data = Path(args.data) if args.data else srcal_home() / "data" / "default"
    if args.tokenizer:
        source = args.tokenizer
    else:
        from calibrate.zoo.parts import smollm2_dir

        source = smollm2_dir()
    tokenizer = AutoTokenizer.from_pretrained(source)
    lengths: dict[str, list[int]] = {}
    for split in ("rft", "calib", "test"):
        for item in read_items(data / f"{split}.jsonl"):
            text = f"{item.rationale}\nAnswer: {item.answer}"
            lengths.setdefault(item.suite, []).append(len(tokenizer(text)["input_ids"]) + 1)
    table = {}
    print("| suite | items | p50 | p90 | p99 | max | share > 64 |\n|---|---|---|---|---|---|---|")
    for suite, values in sorted(lengths.items(), key=lambda kv: -np.percentile(kv[1], 99)):
        v = np.array(values)
        row = {q: float(np.percentile(v, q)) for q in (50, 90, 99)} | {"max": int(v.max())}
        row["over_64"] = float(np.mean(v > 64))
        table[suite] = row
        print(
            f"| {suite} | {len(v)} | {row[50]:.0f} | {row[90]:.0f} | {row[99]:.0f} | {row['max']} | "
            f"{row['over_64']:.3f} |"
        )
    return table


if __name__ == "__main__":
    main()
