"""Choose the learned R-Scorer's training settings on its own dev split, without regenerating its candidates.

    python -m tools.scorer_dev --run RUN_DIR --out DIR [--preset report] [--set train_learning_rate=5e-5 ...]

Reads a finished scorer stage's candidates (``RUN_DIR/scorer/train_candidates.jsonl``: the RFT policy's
candidates on the scorer's pool of ``rft`` items, never calibration or test), labels them as the stage
does (``scorer.labels`` or the fact judge), and trains the R-Scorer with the preset's ``scorer`` settings
and the ``--set`` overrides (``ScorerConfig`` fields), holding out the same items the stage holds out.
Writes ``DIR/scorer_dev.json``: the command, the settings, and the training summary with its learning
curve (held-out agreement, decisive agreement and NLL every ``eval_every`` steps). The stage itself
spends ~7 of its ~42 minutes on 2 cores generating those candidates; a setting measured here costs only
the training. Issue 27's bar: held-out decisive agreement >= 0.70.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    from benchmarks.fileio import atomic_write_json
    from calibrate.loop import Calibration
    from calibrate.records import CandidateSet, read_records
    from calibrate.scorer.labels import training_examples
    from calibrate.scorer.train import train_scorer
    from harness.run_spec import resolve_run_spec

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", required=True, type=Path, help="A run whose scorer stage has finished.")
    parser.add_argument(
        "--out", required=True, type=Path, help="Output directory (adapter, scorer_dev.json)."
    )
    parser.add_argument("--preset", default="report")
    parser.add_argument("--set", action="append", default=[], help="A scorer field=value override.")
    args = parser.parse_args(argv)

    spec = resolve_run_spec(args.preset, None, [f"scorer.{text}" for text in args.set])
    cfg = spec.calibration
    path = args.run / "scorer" / "train_candidates.jsonl"
    if not path.is_file():
        raise SystemExit(
            f"{path}: no scorer candidates (run srcal calibrate --preset {args.preset} --stage scorer)"
        )
    pool = Calibration(cfg, "/nonexistent-run", spec.data).scorer_pool()
    sets = read_records(CandidateSet, path, [item.id for item in pool])
    if len(sets) != len(pool):
        raise SystemExit(
            f"{path}: {len(sets)} candidate sets for a pool of {len(pool)}: not this preset's stage"
        )
    examples = training_examples(pool, sets, cfg.scorer, cfg.scorer.labels)
    summary = train_scorer(cfg.scorer, examples, args.out / "adapter", cfg.seed)
    report = {
        "command": "python -m tools.scorer_dev " + " ".join(sys.argv[1:] if argv is None else argv),
        "preset": args.preset,
        "set": args.set,
        "pool_items": len(pool),
        "summary": summary,
    }
    atomic_write_json(args.out / "scorer_dev.json", report)
    curve = summary.get("learning_curve", [])
    for point in curve:
        print(json.dumps(point))
    return report


if __name__ == "__main__":
    main()
