"""Choose rationale fine-tuning settings on a dev slice of the rft split, never on test.

    python -m tools.rft_dev --out DIR [--preset tiny] [--set max_steps=160 ...] [--dev-items 140]
                            [--checkpoint MODEL_DIR ...] [--no-train] [--generate KEY=VALUE ...]

Draws RFT's pool exactly as ``srcal run --preset PRESET`` does (stratified, ``rft.max_items``),
trains RFT with the preset's settings and the ``--set`` overrides into ``DIR/model``, and evaluates
greedily (the preset's ``eval.max_new_tokens``, bare prompts, as the harness does) the base model,
the trained model and any ``--checkpoint`` on a **dev slice**: a stratified draw from the rft items
that neither RFT nor the R-Scorer's pool uses. Prints accuracy and the share of responses with no
parseable answer, per suite and pooled, and writes them to ``DIR/dev.json`` (each model's per-item responses to
``DIR/responses-K.jsonl``). ``--generate KEY=VALUE`` passes a decoding keyword to `generate` for the dev
evaluation only (e.g. ``repetition_penalty=1.1``), to measure decoding levers. Issue 15's bar: the
rationale-tuned model's accuracy at least the base's, unparseable answers <= 5%.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    from calibrate.rationale_sft import train_rft
    from calibrate.zoo.names import resolve_model
    from harness.run_spec import resolve_run_spec
    from tools.dev_eval import dev_slice, evaluate_into

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="Output directory (model, dev.json).")
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--set", action="append", default=[], help="rft field=value override.")
    parser.add_argument("--dev-items", type=int, default=140)
    parser.add_argument("--checkpoint", action="append", default=[], help="Also evaluate this model dir.")
    parser.add_argument("--no-train", action="store_true", help="Evaluate only (base + --checkpoint).")
    parser.add_argument("--no-base", action="store_true", help="Skip the base model's evaluation.")
    parser.add_argument(
        "--generate",
        action="append",
        default=[],
        help="A `generate` keyword for the dev evaluation only, key=value (e.g. repetition_penalty=1.2).",
    )
    args = parser.parse_args(argv)
    if any("=" not in text for text in args.generate):
        parser.error(f"--generate takes KEY=VALUE, got {[t for t in args.generate if '=' not in t]}")

    spec = resolve_run_spec(args.preset, None, [f"rft.{text}" for text in args.set])
    cfg = spec.calibration
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    calibration, dev = dev_slice(spec, args.dev_items)
    data_dir, pool = calibration.data_dir, calibration.rft_pool()
    base = resolve_model(cfg.model.base)
    report: dict[str, Any] = {"rft": args.set, "dev_items": len(dev), "evaluations": []}
    if not args.no_train:
        start = time.perf_counter()
        report["train"] = train_rft(base, pool, data_dir, cfg.rft, out, cfg.seed, cfg.model)
        report["train"]["seconds"] = round(time.perf_counter() - start, 1)
        print(json.dumps(report["train"]))
    models = ([] if args.no_base else [base]) + args.checkpoint
    models += [] if args.no_train else [str(out / "model")]
    generate = {key: yaml.safe_load(value) for key, value in (text.split("=", 1) for text in args.generate)}
    report["generate"] = generate
    evaluate_into(report, models, dev, data_dir, spec.eval.max_new_tokens, out / "dev.json", **generate)
    return report


if __name__ == "__main__":
    main()
