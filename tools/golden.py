"""Golden files and published results: what `tox -e py` compares byte for byte.

    python -m tools.golden                       # regenerate tests/golden/smoke/ (a smoke run, ~1 min)
    python -m tools.golden --check               # the same run, compared with tests/golden/smoke/
    python -m tools.golden --publish RUN_DIR --preset tiny --out leaderboards/results/tiny
    python -m tools.golden --publish RUN_DIR --preset report --piece NAME --out leaderboards/results/report/NAME

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


def piece_hash_errors(planned: dict, recorded: dict, arms: list[str]) -> list[str]:
    """Where a piece's recorded stage hashes depart from the plan (its arms whole, the other arms' stages it ran)."""
    wrong = [] if recorded.get("eval") == planned.get("eval") else ["eval settings"]
    for arm, stages in recorded["arms"].items():
        plan = planned["arms"].get(arm)
        if plan is None:
            wrong.append(f"arm {arm}: not planned")
            continue
        wrong += [f"{arm}/{stage}" for stage, digest in stages.items() if plan.get(stage) != digest]
        missing = sorted(set(plan) - set(stages)) if arm in arms else []
        wrong += [f"{arm}/{stage}: not run" for stage in missing]
    return wrong


def publish_piece(run_dir: Path, preset: str, piece: str, out: Path) -> list[str]:
    """Write piece ``piece`` of a run in pieces into ``out`` (atomically: a staging directory, then a rename)."""
    import json

    import yaml

    from harness.fingerprints import dumps, planned_hashes, recorded_hashes, stage_summaries
    from harness.run_spec import resolve_run_spec

    index = json.loads((run_dir / "eval" / "index.json").read_text())
    arms = list(index.get("arms") or [])
    planned, recorded = planned_hashes(resolve_run_spec(preset)), recorded_hashes(run_dir)
    wrong = piece_hash_errors(planned, recorded, arms)
    if wrong:
        raise SystemExit(f"{run_dir}: not a piece of preset {preset!r} at this commit: {', '.join(wrong)}")
    if index.get("failures"):
        raise SystemExit(
            f"{run_dir}: evaluations failed ({', '.join(index['failures'])}): rerun with --resume"
        )
    names = ["eval/index.json", "run.yaml"]
    names += [str(p.relative_to(run_dir)) for p in sorted(run_dir.glob("eval/*/*/samples.jsonl"))]
    names += [str(p.relative_to(run_dir)) for p in sorted(run_dir.glob("eval/*/*/metrics.json"))]
    manifests = sorted(run_dir.glob("**/*.manifest.json"))
    names += [str(p.relative_to(run_dir)) for p in manifests]
    stages = {}
    for path in manifests:
        manifest = json.loads(path.read_text())
        key = str(path.relative_to(run_dir)).removesuffix(".manifest.json")
        stages[key] = {"seconds": manifest.get("seconds"), "finished_at": manifest.get("finished_at")}
    evaluations = {}
    for path in sorted(run_dir.glob("eval/*/*/metrics.json")):
        provenance = json.loads(path.read_text()).get("provenance", {})
        evaluations[f"{path.parent.parent.name}/{path.parent.name}"] = {
            "seconds": provenance.get("seconds"),
            "finished_at": provenance.get("finished_at"),
        }
    times = sorted(
        t["finished_at"] for t in [*stages.values(), *evaluations.values()] if t.get("finished_at")
    )
    run_yaml = yaml.safe_load((run_dir / "run.yaml").read_text())
    info = {
        "piece": piece,
        "preset": preset,
        "arms": arms,
        "commit": run_yaml.get("provenance", {}).get("commit", "unknown"),
        "versions": run_yaml.get("provenance", {}).get("versions"),
        "created": run_yaml.get("provenance", {}).get("created"),
        "last_finished": times[-1] if times else None,
        "stage_seconds": sum(t["seconds"] or 0 for t in stages.values()),
        "evaluation_seconds": sum(t["seconds"] or 0 for t in evaluations.values()),
        "stages": stages,
        "evaluations": evaluations,
    }
    stage = out.with_name(f".{out.name}.partial")
    shutil.rmtree(stage, ignore_errors=True)
    for name in names:
        (stage / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(run_dir / name, stage / name)
    texts = {
        "piece.json": json.dumps(info, indent=2, sort_keys=True) + "\n",
        "stage_hashes.json": dumps(recorded),
        "stage_summaries.json": dumps(stage_summaries(run_dir)),
    }
    for name, text in texts.items():
        (stage / name).write_text(text)
    if out.exists():
        shutil.rmtree(out)
    os.replace(stage, out)
    return [*names, *texts]


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
    parser.add_argument("--piece", help="RUN_DIR is this piece of a run in pieces (with --publish)")
    args = parser.parse_args(argv)
    if args.publish:
        if args.out is None:
            parser.error("--publish needs --out")
        if args.piece:
            written = publish_piece(args.publish, args.preset, args.piece, args.out)
            print(f"published piece {args.piece} of {args.preset} ({len(written)} files) into {args.out}")
            return 0
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
