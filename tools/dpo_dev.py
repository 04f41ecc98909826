"""Choose preference-training settings (steps, learning rate) on an iteration's training pairs and a dev slice.

    python -m tools.dpo_dev --run RUN_DIR --out DIR [--iteration 1] [--preset tiny]
                            [--set learning_rate=2e-4 --set max_steps=40 ...]
                            [--curation pairs_per_item=1 ...] [--dev-items 140]

Trains stage 5 (DPO + SFT term) from ``RUN_DIR/iter_{k-1}/model`` on ``RUN_DIR/iter_k/pairs.jsonl``
(or, with ``--curation`` overrides, on pairs curated anew from that iteration's candidates and
verdicts) with the preset's ``preference`` settings and the ``--set`` overrides, as the loop does, then
reports the reward accuracy and margin over all the pairs after training (the issue's bar: >= 0.8) and
the trained model's greedy accuracy and unparseable share on the rft dev slice (`tools.dev_eval`),
next to the starting policy's. Never reads the test split. Writes ``DIR/dpo_dev.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def recurate(directory: Path, cfg: Any) -> tuple[list[Any], dict[str, Any]]:
    """Pairs curated anew from ``directory``'s candidates and verdicts with ``cfg.curation``."""
    from calibrate.curation import curate
    from calibrate.records import CandidateScores, CandidateSet, read_records

    sets = read_records(CandidateSet, directory / "candidates.jsonl")
    scores = {r.item_id: r for r in read_records(CandidateScores, directory / "verdicts.jsonl")}
    return curate(sets, scores, cfg.curation, cfg.method)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    from benchmarks.records import read_items
    from calibrate.preference import train_preference
    from calibrate.records import PreferencePair, read_records
    from harness.run_spec import resolve_run_spec
    from tools.dev_eval import dev_slice, evaluate_into

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--run", required=True, help="A run directory holding iter_{k-1}/model and iter_k/pairs."
    )
    parser.add_argument("--out", required=True)
    parser.add_argument("--iteration", type=int, default=1)
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--set", action="append", default=[], help="preference field=value override.")
    parser.add_argument("--curation", action="append", default=[], help="curation field=value override.")
    parser.add_argument("--dev-items", type=int, default=140)
    parser.add_argument("--eval-policy", action="store_true", help="Also evaluate the starting policy.")
    args = parser.parse_args(argv)

    overrides = [f"preference.{text}" for text in args.set] + [f"curation.{text}" for text in args.curation]
    spec = resolve_run_spec(args.preset, None, overrides)
    cfg = spec.calibration
    calibration, dev = dev_slice(spec, args.dev_items)
    data_dir = calibration.data_dir
    run, k = Path(args.run), args.iteration
    policy = run / f"iter_{k - 1}" / "model"
    pairs = read_records(PreferencePair, run / f"iter_{k}" / "pairs.jsonl")
    curation: dict[str, Any] = {}
    if args.curation:
        pairs, curation = recurate(run / f"iter_{k}", cfg)
    items = {item.id: item for item in read_items(data_dir / "calib.jsonl")}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    summary = train_preference(
        str(policy),
        pairs,
        items,
        data_dir,
        cfg.preference,
        out,
        cfg.seed + k,
        cfg.candidates.prompt_style,
        cfg.model,
    )
    summary["seconds"] = round(time.perf_counter() - start, 1)
    print(json.dumps(summary))
    report: dict[str, Any] = {
        "preference": args.set,
        "curation": {"overrides": args.curation, **curation},
        "iteration": k,
        "train": summary,
        "evaluations": [],
    }
    models = ([str(policy)] if args.eval_policy else []) + [str(out / "model")]
    evaluate_into(report, models, dev, data_dir, spec.eval.max_new_tokens, out / "dpo_dev.json")
    return report


if __name__ == "__main__":
    main()
