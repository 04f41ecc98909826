"""Golden files and published results: what `tox -e py` compares byte for byte.

    python -m tools.golden                       # regenerate tests/golden/smoke/ (a smoke run, ~1 min)
    python -m tools.golden --check               # the same run, compared with tests/golden/smoke/
    python -m tools.golden --publish RUN_DIR --preset tiny --out leaderboards/results/tiny

1. Without ``--publish``: runs ``srcal run --preset smoke`` in a temporary directory with an empty
   ``$SRCAL_HOME`` and writes (or, with ``--check``, compares) the golden files of
   ``tests/golden/smoke/``: ``leaderboard.csv`` (``srcal leaderboard --format csv``),
   ``stage_summaries.json`` (every stage's summary, timing fields aside:
   `harness.fingerprints.stage_summaries`) and ``stage_hashes.json``; ``tests/test_golden.py``
   makes the same comparison in ``tox -e py``. A change that moves them
   regenerates them in the same commit, and the commit message says why.
2. ``--publish``: a finished run's results into a committed results directory: refuses when the
   run's recorded stage hashes differ from those today's preset plans (the run is not of this
   preset at this commit), then copies the run's own ``leaderboard.{md,csv}`` and ``plots/`` (as
   ``srcal leaderboard`` wrote them) and writes ``stage_hashes.json`` and ``stage_summaries.json``. The directory's README (timings, commit, the plain result) is
   written by hand from the run's log.
"""

from __future__ import annotations

import argparse
import difflib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.fileio import atomic_write_text

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "golden" / "smoke"
FILES = ("leaderboard.csv", "stage_summaries.json", "stage_hashes.json")


def golden_files(run_dir: Path, preset: str, home: Path | None = None) -> dict[str, str]:
    """A finished run's stage summaries and hashes: name -> text; refuses a run its preset does not plan."""
    from harness.fingerprints import dumps, planned_hashes, recorded_hashes, stage_summaries
    from harness.run_spec import resolve_run_spec

    planned, recorded = planned_hashes(resolve_run_spec(preset)), recorded_hashes(run_dir)
    if planned != recorded:
        raise SystemExit(
            f"{run_dir}: its stage hashes are not those preset {preset!r} plans at this commit:\n"
            f"recorded {dumps(recorded)}planned  {dumps(planned)}"
        )
    summaries = stage_summaries(run_dir, home)
    return {"stage_summaries.json": dumps(summaries), "stage_hashes.json": dumps(planned)}


def smoke_run(work: Path) -> Path:
    """``srcal run --preset smoke`` into ``work/smoke`` with an empty ``$SRCAL_HOME`` under ``work``."""
    env = {**os.environ, "SRCAL_HOME": str(work / "home"), "HF_HUB_OFFLINE": "1", "PYTHONHASHSEED": "0"}
    run_dir = work / "smoke"
    cmd = [sys.executable, "-m", "harness.cli", "run", "--preset", "smoke", "--run-dir", str(run_dir)]
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
    return run_dir


def smoke_leaderboard(run_dir: Path, out: Path) -> str:
    """``srcal leaderboard RUN_DIR --format csv`` (default bootstrap), as text."""
    from leaderboards.build import build_leaderboard

    build_leaderboard([run_dir], out, ("csv",))
    return (out / "leaderboard.csv").read_text()


def diff(expected: str, actual: str, name: str) -> str:
    lines = difflib.unified_diff(
        expected.splitlines(), actual.splitlines(), f"golden/{name}", f"run/{name}", lineterm="", n=1
    )
    return "\n".join(list(lines)[:60])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--check", action="store_true", help="compare with tests/golden/smoke/, write nothing"
    )
    parser.add_argument("--publish", type=Path, metavar="RUN_DIR", help="a finished run to publish")
    parser.add_argument("--preset", default="tiny", help="the preset RUN_DIR ran (with --publish)")
    parser.add_argument("--out", type=Path, help="the results directory to write (with --publish)")
    args = parser.parse_args(argv)
    if args.publish:
        if args.out is None:
            parser.error("--publish needs --out")
        texts = golden_files(args.publish, args.preset)
        board = [args.publish / "leaderboard.md", args.publish / "leaderboard.csv"]
        missing = [str(p) for p in board if not p.is_file()]
        if missing:
            raise SystemExit(
                f"{args.publish}: no leaderboard yet ({', '.join(missing)}): run srcal leaderboard"
            )
        (args.out / "plots").mkdir(parents=True, exist_ok=True)
        for path in [*board, *sorted((args.publish / "plots").glob("*.png"))]:
            shutil.copyfile(path, args.out / path.relative_to(args.publish))  # as the run wrote them
        for name, text in texts.items():
            atomic_write_text(args.out / name, text)
        print(f"published {args.publish} ({args.preset}) into {args.out}")
        return 0
    with tempfile.TemporaryDirectory(prefix="srcal-golden-") as tmp:
        work = Path(tmp)
        run_dir = smoke_run(work)
        texts = golden_files(run_dir, "smoke", work / "home")
        texts["leaderboard.csv"] = smoke_leaderboard(run_dir, work / "board")
        if args.check:
            bad = [n for n in FILES if (GOLDEN / n).read_text() != texts[n]]
            for name in bad:
                print(diff((GOLDEN / name).read_text(), texts[name], name))
            print("golden files: " + ("differ: " + ", ".join(bad) if bad else "equal"))
            return 1 if bad else 0
        GOLDEN.mkdir(parents=True, exist_ok=True)
        for name in FILES:
            atomic_write_text(GOLDEN / name, texts[name])
    print(f"wrote {', '.join(FILES)} into {GOLDEN.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
