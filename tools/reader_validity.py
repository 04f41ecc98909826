"""Re-make the committed reader validity figures (``harness/implied_answer/cases/measured/validity.json``).

    python -m tools.reader_validity [--readers conclusion,choice,lm] [--data DIR] [--reports DIR]
        [--out FILE | --write]

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


def entry(name: str, report: dict[str, Any], data: str | None) -> dict[str, Any]:
    """The ``validity.json`` entry of one reader's ``validate`` report."""
    identity = report["reader"]
    settings = (
        {"choice_scoring": identity["choice_scoring"], "min_confidence": identity["min_confidence"]}
        if name == "choice"
        else {}
    )
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    return {
        "reader": name,
        "backbone": identity.get("backbone"),
        "settings": settings,
        "command": f"srcal readers validate --reader {name}"
        + (f" --data {data}" if data else "")
        + " (default data build, split test, 40 items per suite; harness/implied_answer/cases)",
        "measured_on": f"{datetime.date.today().isoformat()}, commit {commit} (python -m tools.reader_validity)",
        "generated": _rounded(report["pooled"]["generated"], POOLED),
        "public": _rounded(report["pooled"]["public"], POOLED),
        "by_benchmark": {k: _rounded(v, PER_BENCHMARK) for k, v in report["by_benchmark"].items()},
    }


def main(argv: Sequence[str] | None = None) -> list[dict[str, Any]]:
    from harness.implied_answer import ReaderConfig, make_reader
    from harness.implied_answer.validity import MEASURED, select_cases, validate, write_report

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--readers", default="conclusion,choice,lm", help="Comma-separated readers.")
    parser.add_argument("--data", help="Built dataset (default: $SRCAL_HOME/data/default).")
    parser.add_argument("--reports", help="Keep each reader's full report in DIR/NAME/.")
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--out", help="Write the entries here (JSON).")
    target.add_argument("--write", action="store_true", help=f"Replace them in {MEASURED}.")
    args = parser.parse_args(argv)
    cases = select_cases(data_dir=args.data)
    entries = []
    for name in args.readers.split(","):
        report = validate(make_reader(ReaderConfig(name=name)), cases)
        if args.reports:
            write_report(report, Path(args.reports) / name)
        entries.append(entry(name, report, args.data))
    text = json.dumps(entries, indent=1)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    if args.write:
        new = {e["reader"]: e for e in entries}
        old = json.loads(MEASURED.read_text()) if MEASURED.is_file() else []
        kept = [new.pop(e["reader"]) if e["reader"] in new else e for e in old]
        MEASURED.write_text(json.dumps(kept + list(new.values()), indent=1) + "\n")
    return entries


if __name__ == "__main__":
    main()
