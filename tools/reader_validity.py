"""Re-make the committed reader validity figures (``harness/implied_answer/cases/measured/validity.json``).

    python -m tools.reader_validity [--readers conclusion,choice,lm] [--data DIR] [--reports DIR]
        [--reader-model DIR --backbone-name NAME] [--per-suite N] [--out FILE | --write]

For each reader, the measurement ``srcal readers validate --reader NAME`` makes with its defaults
(default data build, split ``test``, the first 40 items per built-in suite, the hand-written
public cases of ``harness/implied_answer/cases``; ``choice`` and ``lm`` on their default backbone,
SmolLM2-135M-Instruct), reduced to the entry every ``metrics.json`` quotes as ``reader_validity``
(:func:`harness.implied_answer.validity.measured_validity`): the pooled figures of the generated
and the public cases and coverage / agreement per suite and benchmark. These figures set the
default reader (docs/metrics.md, "How well the readers read").

Prints the entries; ``--out FILE`` writes them as JSON, ``--write`` replaces the committed file
(readers not re-measured keep their entries); ``--reports DIR`` also keeps each reader's full
``srcal readers validate`` report (every case) in ``DIR/NAME/``.

``--reader-model DIR`` measures ``choice`` and ``lm`` on another backbone (e.g. the instruct model
``python -m tools.offline_lm build`` converts): its entry records ``--backbone-name`` as the
backbone and the weights' hash, by which ``metrics.json`` finds it wherever the directory lies.
Each entry keeps the reading time (``seconds_per_100``; measure with an empty reading cache).
"""

from __future__ import annotations

import argparse
import datetime
import json
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

POOLED = ("n", "n_decisive", "coverage", "agreement", "flag_agreement", "n_non_decisive", "abstention")
PER_BENCHMARK = ("n_decisive", "coverage", "agreement")


def _rounded(summary: dict[str, Any], keys: Sequence[str]) -> dict[str, Any]:
    return {k: round(summary[k], 4) if isinstance(summary[k], float) else summary[k] for k in keys}


def entry(
    name: str,
    report: dict[str, Any],
    data: str | None,
    per_suite: int = 40,
    backbone_name: str | None = None,
    options: str = "",
) -> dict[str, Any]:
    """The ``validity.json`` entry of one reader's ``validate`` report."""
    identity = report["reader"]
    settings = (
        {"choice_scoring": identity["choice_scoring"], "min_confidence": identity["min_confidence"]}
        if name == "choice"
        else {}
    )
    if "dtype" in identity:
        settings["dtype"] = identity["dtype"]
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    weights = {"backbone_hash": identity["backbone_hash"]} if backbone_name else {}
    return {
        "reader": name,
        "backbone": backbone_name or identity.get("backbone"),
        **weights,
        "settings": settings,
        "command": f"srcal readers validate --reader {name}{options}"
        + (f" --data {data}" if data else "")
        + f" (default data build, split test, {per_suite} items per suite; harness/implied_answer/cases)",
        "measured_on": f"{datetime.date.today().isoformat()}, commit {commit} (python -m tools.reader_validity)",
        "generated": _rounded(report["pooled"]["generated"], POOLED),
        "public": _rounded(report["pooled"]["public"], POOLED),
        "by_benchmark": {k: _rounded(v, PER_BENCHMARK) for k, v in report["by_benchmark"].items()},
        "seconds_per_100": report.get("timing", {}).get("seconds_per_100"),
    }


def _same_entry(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return (a["reader"], a.get("backbone"), a.get("settings")) == (
        b["reader"],
        b.get("backbone"),
        b.get("settings"),
    )


def main(argv: Sequence[str] | None = None) -> list[dict[str, Any]]:
    from harness.implied_answer import ReaderConfig, make_reader
    from harness.implied_answer.validity import MEASURED, select_cases, validate, write_report

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--readers", default="conclusion,choice,lm", help="Comma-separated readers.")
    parser.add_argument("--data", help="Built dataset (default: $SRCAL_HOME/data/default).")
    parser.add_argument("--reports", help="Keep each reader's full report in DIR/NAME/.")
    parser.add_argument("--reader-model", help="Backbone directory of choice/lm (default: their own).")
    parser.add_argument("--backbone-name", help="The name the entry gives --reader-model's backbone.")
    parser.add_argument("--per-suite", type=int, default=40, help="Items per built-in suite (40).")
    parser.add_argument("--min-confidence", type=float, help="`choice`: least winner probability.")
    parser.add_argument("--choice-scoring", choices=("sum", "mean", "pmi"), help="`choice` scoring.")
    parser.add_argument(
        "--reader-dtype", choices=("auto", "fp32", "bf16"), default="auto", help="Backbone dtype."
    )
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--out", help="Write the entries here (JSON).")
    target.add_argument("--write", action="store_true", help=f"Replace them in {MEASURED}.")
    args = parser.parse_args(argv)
    if args.reader_model and not args.backbone_name:
        parser.error("--reader-model needs --backbone-name (the name its entry records)")
    cases = select_cases(data_dir=args.data, per_suite=args.per_suite)
    entries = []
    for name in args.readers.split(","):
        settings: dict[str, Any] = {"name": name}
        options = ""
        if args.reader_model and name != "conclusion":
            settings["backbone"] = args.reader_model
            options += " --reader-model DIR"
        if args.reader_dtype != "auto" and name != "conclusion":
            settings["dtype"] = args.reader_dtype
            options += f" --reader-dtype {args.reader_dtype}"
        if name == "choice":
            for key in ("min_confidence", "choice_scoring"):
                if getattr(args, key) is not None:
                    settings[key] = getattr(args, key)
                    options += f" --{key.replace('_', '-')} {getattr(args, key)}"
        if args.per_suite != 40:
            options += f" --per-suite {args.per_suite}"
        report = validate(make_reader(ReaderConfig(**settings)), cases)
        if args.reports:
            write_report(report, Path(args.reports) / name)
        backbone_name = args.backbone_name if "backbone" in settings else None
        entries.append(entry(name, report, args.data, args.per_suite, backbone_name, options))
    text = json.dumps(entries, indent=1)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    if args.write:
        old = json.loads(MEASURED.read_text()) if MEASURED.is_file() else []
        kept = [next((e for e in entries if _same_entry(e, o)), o) for o in old]
        added = [e for e in entries if not any(_same_entry(e, o) for o in old)]
        MEASURED.write_text(json.dumps(kept + added, indent=1) + "\n")
    return entries


if __name__ == "__main__":
    main()
