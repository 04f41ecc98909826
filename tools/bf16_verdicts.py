"""R-Scorer verdicts in bf16 vs fp32 on a run's real calibration candidates: argmax agreement, speed.

    python -m tools.bf16_verdicts --run-dir RUN_DIR [--iterations 1,2,3] [--items N] [--data DIR] [--json OUT]

The figure behind ``ScorerConfig.dtype``'s default (docs/performance.md, "R-Scorer in bf16 vs
fp32"). The run's trained R-Scorer (``RUN_DIR/scorer/adapter`` on the backbone of the run's
``scorer`` section, merged) judges the candidates of ``RUN_DIR/iter_N/candidates.jsonl`` for each
iteration, exactly as the run's verdict stage did (same pairs: ``max_pairs_per_item``,
``both_orders``, batch size from ``RUN_DIR/run.yaml``), once with the weights loaded in fp32 and
once in bf16 (weights cast, not autocast). These candidates were never in the scorer's training
pairs (those come from rft items). Reports, over every ordered pair: how often the two verdicts'
argmax (first / second / tie) agree, the largest probability difference, and ordered pairs/s of
each dtype. The items come from the dataset the run trained on (``RUN_DIR/data/manifest.json``,
or ``--data``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml


def scorer_config(run_dir: Path) -> Any:
    """The ``scorer`` section of the run's resolved spec (fields this srcal no longer knows dropped)."""
    from benchmarks.configuration import from_mapping
    from calibrate.config import ScorerConfig

    spec = yaml.safe_load((run_dir / "run.yaml").read_text())
    section = spec.get("resolved", spec)["run"]["scorer"]
    known = {f.name for f in dataclasses.fields(ScorerConfig)}
    return from_mapping(ScorerConfig, {k: v for k, v in section.items() if k in known}, "run.yaml scorer")


def _probs(path: Path) -> dict[tuple[str, int, int], list[float]]:
    """Verdict probabilities of every ordered pair in a verdicts log: (item, first, second) -> p."""
    from calibrate.records import CandidateScores

    out: dict[tuple[str, int, int], list[float]] = {}
    for line in path.read_text().splitlines():
        record = CandidateScores.from_dict(json.loads(line))
        for v in record.verdicts:
            out[(record.item_id, v.a, v.b)] = v.p_ab
            if v.p_ba:
                out[(record.item_id, v.b, v.a)] = v.p_ba
    return out


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    from benchmarks.records import SPLITS, read_items
    from calibrate.artifacts import ItemLog
    from calibrate.records import CandidateSet
    from calibrate.scorer.model import RScorer

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run-dir", required=True, help="A finished `srcal run` / `srcal calibrate` run.")
    parser.add_argument("--iterations", default="1,2,3", help="Comma-separated iterations (default 1,2,3).")
    parser.add_argument("--data", help="Built dataset (default: the run's, from data/manifest.json).")
    parser.add_argument(
        "--items", type=int, help="First N items of each iteration (default: all; for a quick check)."
    )
    parser.add_argument("--json", help="Write the results here.")
    args = parser.parse_args(argv)
    run_dir = Path(args.run_dir)
    data = Path(args.data or json.loads((run_dir / "data" / "manifest.json").read_text())["path"])
    cfg = scorer_config(run_dir)
    adapter = run_dir / "scorer" / "adapter"
    items = {
        i.id: i
        for split in SPLITS
        if (data / f"{split}.jsonl").is_file()
        for i in read_items(data / f"{split}.jsonl")
    }
    iterations = [int(x) for x in args.iterations.split(",")]
    sets = {
        it: [
            CandidateSet.from_dict(r)
            for r in ItemLog(run_dir / f"iter_{it}" / "candidates.jsonl").records.values()
        ][: args.items]
        for it in iterations
    }
    probs: dict[str, dict[tuple[int, str, int, int], list[float]]] = {}
    seconds: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for dtype in ("fp32", "bf16"):
            scorer = RScorer.from_config(
                dataclasses.replace(cfg, dtype=dtype), adapter=str(adapter), device="cpu"
            )
            probs[dtype], seconds[dtype] = {}, 0.0
            for it in iterations:
                its = [items[cs.item_id] for cs in sets[it]]
                out = Path(tmp) / f"{dtype}_{it}.jsonl"
                started = time.perf_counter()
                scorer.verdicts(its, sets[it], out)
                seconds[dtype] += time.perf_counter() - started
                probs[dtype].update({(it, *k): v for k, v in _probs(out).items()})
            del scorer
    fp32, bf16 = probs["fp32"], probs["bf16"]
    assert set(fp32) == set(bf16), "both dtypes must judge the same ordered pairs"

    def argmax(p: list[float]) -> int:
        return max(range(len(p)), key=p.__getitem__)

    agree = sum(argmax(fp32[k]) == argmax(bf16[k]) for k in fp32)
    report = {
        "run_dir": str(run_dir),
        "adapter": str(adapter),
        "backbone": cfg.backbone,
        "iterations": iterations,
        "ordered_pairs": len(fp32),
        "argmax_agreement": round(agree / len(fp32), 4) if fp32 else None,
        "argmax_differ": len(fp32) - agree,
        "max_abs_prob_diff": round(max(abs(x - y) for k in fp32 for x, y in zip(fp32[k], bf16[k])), 4)
        if fp32
        else None,
        "seconds": {k: round(v, 2) for k, v in seconds.items()},
        "pairs_per_s": {k: round(len(fp32) / v, 2) for k, v in seconds.items() if v > 0},
        "speedup": round(seconds["fp32"] / seconds["bf16"], 2) if seconds["bf16"] > 0 else None,
    }
    print(json.dumps(report, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    return report


if __name__ == "__main__":
    main()
