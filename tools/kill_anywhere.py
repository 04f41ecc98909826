"""Kill anywhere: ``srcal run --preset smoke`` SIGKILLed at any point resumes to the uninterrupted results.

    python tools/kill_anywhere.py --points 10 --seed 0 [--work DIR] [--keep]

1. Builds the smoke data and the zoo models (srcal-micro, srcal-micro-lm) once, into a template
   ``$SRCAL_HOME``; every run starts from a fresh copy of it.
2. Runs ``srcal run --preset smoke`` uninterrupted (the reference) and measures it.
3. For each kill point: a fresh run, SIGKILL of its whole process group at that point, then
   ``srcal run --preset smoke --resume`` to completion in the same directory, compared with the
   reference. Kill points alternate between seeded random delays within the measured duration and
   points targeted at progress lines (a stage starting, a batch logged, an evaluation's last
   benchmark scored: the results store and ``eval/index.json`` are written right after it), each
   with a small seeded delay.

The runs execute a copy of the source packages taken at the start (``<work>/code``), so edits to the
working tree during the experiment (an hour on 2 cores) do not mix code versions.
Every run happens at the same path (``<work>/trial``), so the absolute paths recorded in the files
are equal; a finished trial is moved aside (``reference``, ``failed-<n>`` on a difference) or deleted.

Compared, per file of the run directory: the file set; every JSONL file record by record (keyed by
``id``/``item_id``: no duplicated, missing or changed record, same order); every JSON/YAML file; every
other file byte for byte (weights, tokenizers, cards); the store's ``checkpoints`` and ``results``
rows. Ignored: timing fields (:data:`TIMING_KEYS`), counters of what one invocation did
(:data:`INVOCATION_COUNTERS`: a resumed stage generates fewer items than a fresh one) and
``samples_sha256`` (a hash over ``samples.jsonl``, whose records carry their generation time; the
records themselves are compared). Left-over staging files of a killed process (``.*.partial-*``) are
listed and counted as differences. Exit status 1 on any difference.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.fingerprints import TIMING_KEYS

INVOCATION_COUNTERS = {
    "candidates.manifest.json": ("summary", {"items_generated", "tokens"}),
    "verdicts.manifest.json": ("summary", {"new_items", "pairs", "ordered_pairs", "forwards"}),
    "metrics.json": ("provenance", {"generated_now"}),
}
"""file name -> (section, keys): what this invocation computed (the rest came from the logs)."""

HASHES_OF_TIMED_FILES = frozenset({"samples_sha256"})
"""Hashes over files that hold timing fields (their records are compared instead)."""

RECORD_KEYS = ("id", "item_id", "key")

TARGETS = (
    ("science: accuracy", 5, "store: refresh after evaluating iter_3 (35 metrics files)"),
    ("iter_0/rft: running", 1, "RFT training"),
    ("scorer/scorer: running", 1, "R-Scorer training"),
    ("candidates: batch 1/2", 2, "candidate search of iter_2, between batches"),
    ("verdicts: 6/8 items", 1, "verdicts, between groups"),
    ("iter_2/curate: running", 1, "curation"),
    ("iter_2/preference: running", 1, "DPO training"),
    ("evaluating iter_1", 1, "evaluation start (model load)"),
    ("charts: 6 of 6 samples to generate", 3, "evaluation of iter_1, generating"),
    ("science: accuracy", 2, "store: refresh after evaluating iter_0"),
    ("baseline outcome-dpo", 1, "baseline start (iter_0 linked)"),
    ("baseline csr-style", 1, "second baseline start"),
    ("evaluating outcome-dpo", 1, "baseline evaluation"),
)
"""(progress-line substring, its n-th occurrence, what runs after it): targeted kill points.

The results store and ``eval/index.json`` are rewritten right after an evaluation's last benchmark
(``science``) is scored: a few milliseconds per metrics file, so the store's points wait 0-50 ms."""

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("benchmarks", "calibrate", "harness", "leaderboards")
LINE = re.compile(r"^\[\s*[\d.]+s\] (.*)$")


# ----------------------------------------------------------------------------- running srcal


def snapshot(work: Path) -> Path:
    """A copy of the source packages in ``<work>/code``: every run of the experiment executes it."""
    code = work / "code"
    shutil.rmtree(code, ignore_errors=True)
    for package in PACKAGES:
        shutil.copytree(REPO / package, code / package, ignore=shutil.ignore_patterns("__pycache__"))
    return code


def srcal_env(work: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        PYTHONPATH=os.pathsep.join([str(work / "code"), *filter(None, [env.get("PYTHONPATH")])]),
        SRCAL_HOME=str(work / "trial" / "home"),
        HF_HOME=str(work / "hf"),
        HF_DATASETS_CACHE=str(work / "hf" / "datasets"),
        MPLCONFIGDIR=str(work / "mpl"),
        HF_HUB_OFFLINE="1",
        HF_DATASETS_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        TOKENIZERS_PARALLELISM="false",
        PYTHONHASHSEED="0",
        PYTHONUNBUFFERED="1",
        MPLBACKEND="Agg",
    )
    env.pop("SRCAL_CRASH_AFTER", None)
    return env


def run_command(run_dir: Path, resume: bool) -> list[str]:
    cmd = [sys.executable, "-m", "harness.cli", "run", "--preset", "smoke", "--run-dir", str(run_dir)]
    return cmd + (["--resume"] if resume else [])


@dataclass
class Launch:
    """One ``srcal run`` process: its progress lines with arrival times, killed on a trigger or delay."""

    rc: int | None = None
    lines: list[tuple[float, str]] = field(default_factory=list)
    seconds: float = 0.0
    killed_at: float | None = None
    killed_after: str | None = None


def launch(
    cmd: list[str],
    env: dict[str, str],
    log: Path,
    kill_delay: float | None = None,
    kill_on: str | None = None,
    after_trigger: float = 0.0,
    occurrence: int = 1,
) -> Launch:
    """Run ``cmd``; SIGKILL its process group ``kill_delay`` s after start, or ``after_trigger`` s after
    the ``occurrence``-th progress line containing ``kill_on``. Without either it runs to completion."""
    result = Launch()
    trigger = threading.Event()
    seen = [0]
    started = time.perf_counter()
    proc = subprocess.Popen(
        cmd,
        env=env,
        cwd=env["PYTHONPATH"].split(os.pathsep)[0],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
        start_new_session=True,
    )

    def read() -> None:
        assert proc.stdout is not None
        with open(log, "w") as out:
            for raw in proc.stdout:
                now = time.perf_counter() - started
                out.write(raw)
                match = LINE.match(raw.rstrip("\n"))
                if match:
                    result.lines.append((now, match.group(1)))
                    if kill_on is not None and kill_on in match.group(1):
                        seen[0] += 1
                        if seen[0] == occurrence:
                            trigger.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    if kill_delay is not None or kill_on is not None:
        while proc.poll() is None:
            if kill_on is not None:
                if trigger.wait(0.005):
                    time.sleep(after_trigger)
                    break
            elif time.perf_counter() - started >= kill_delay:
                break
            else:
                time.sleep(0.005)
        if proc.poll() is None:
            result.killed_at = time.perf_counter() - started
            os.killpg(proc.pid, signal.SIGKILL)
    result.rc = proc.wait()
    reader.join()
    result.seconds = time.perf_counter() - started
    if result.killed_at is not None:
        before = [text for at, text in result.lines if at <= result.killed_at]
        result.killed_after = before[-1] if before else None
    return result


def stage_of(lines: list[str]) -> str:
    """What the run was doing after ``lines`` (its progress lines up to the kill)."""
    if not lines:
        return "start-up (imports, run.yaml)"
    baseline, opener = "", None
    for text in lines:
        if text.startswith("baseline "):
            baseline, opener = text.split(":")[0].removeprefix("baseline "), text
        elif text.startswith("evaluating ") or text.endswith(": running"):
            opener = text
    last = lines[-1]
    prefix = f"{baseline}: " if baseline else ""
    if opener is None:
        return f"start-up ({last[:40]})"
    if last.endswith(("up to date, skipped", ", copied")):
        return f"{prefix}calibration, after {last.split(':')[0]} ({'skipped' if 'skipped' in last else 'copied'})"
    if opener.startswith("evaluating "):
        checkpoint = opener.removeprefix("evaluating ")
        if last.startswith("science: accuracy"):
            return f"evaluation {checkpoint}: after its last benchmark (summary, store, index)"
        bench = re.match(r"(\w+): (\d+ of \d+ samples|\d+/\d+ samples|accuracy|up to date)", last)
        return f"evaluation {checkpoint} / " + (bench.group(1) if bench else "model load")
    if opener.startswith("baseline "):
        return f"{prefix}baseline start (iter_0 linked)"
    stage = opener.split(":")[0]
    if stage.endswith("data"):
        return f"{prefix}data stage (dataset build and check)"
    if last.startswith(f"{stage}: done"):
        return f"{prefix}calibration {stage} done, next starting"
    return f"{prefix}calibration {stage}"


# ----------------------------------------------------------------------------- comparison


def normalized(obj: Any, name: str, path: tuple[str, ...] = (), tokens: dict[str, str] | None = None) -> Any:
    """``obj`` without timing fields, invocation counters and hashes of timed files; ``tokens`` rename
    the stage outputs' hashes (see :func:`output_tokens`)."""
    if isinstance(obj, str):
        return (tokens or {}).get(obj, obj)
    if isinstance(obj, dict):
        section, counters = INVOCATION_COUNTERS.get(name, (None, set()))
        out = {}
        for key, value in obj.items():
            if key in TIMING_KEYS or key in HASHES_OF_TIMED_FILES:
                continue
            if section is not None and path and path[-1] == section and key in counters:
                continue
            out[key] = normalized(value, name, (*path, key), tokens)
        return out
    if isinstance(obj, list):
        return [normalized(v, name, path, tokens) for v in obj]
    return obj


def output_tokens(run: Path) -> tuple[dict[str, str], list[str]]:
    """Every stage output's recorded hash -> ``<hash of NAME>``, and the outputs that do not hash as recorded.

    A stage output can hold timing fields (the R-Scorer's ``scorer_train.json`` in its adapter directory),
    so its hash differs between any two runs, and so do the manifests naming it as an input. Outputs
    are compared file by file instead; their hashes only have to be what the run's own files hash to.
    """
    from calibrate.artifacts import path_hash

    tokens, problems = {}, []
    for manifest in sorted(run.rglob("*.manifest.json")):
        for rel, digest in json.loads(manifest.read_text()).get("outputs", {}).items():
            target = manifest.parent / rel
            if target.exists() and path_hash(target) == digest:
                tokens[digest] = f"<hash of {Path(rel).name}>"
            else:
                problems.append(f"{manifest.relative_to(run)}: output {rel} does not hash as recorded")
    return tokens, problems


def _first_difference(a: Any, b: Any, where: str = "") -> str:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            if key not in a or key not in b:
                return f"{where}.{key}: only in {'reference' if key in a else 'resumed'}"
            if a[key] != b[key]:
                return _first_difference(a[key], b[key], f"{where}.{key}")
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            if x != y:
                return _first_difference(x, y, f"{where}[{i}]")
    return f"{where}: {str(a)[:60]!r} != {str(b)[:60]!r}"


def _jsonl(path: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """Records of a JSONL file and the problems of the file itself (torn lines, duplicated keys)."""
    records, problems = [], []
    for number, line in enumerate(path.read_bytes().splitlines(keepends=True), start=1):
        try:
            records.append(json.loads(line))
        except ValueError:
            problems.append(f"line {number}: not JSON (torn?)")
        if not line.endswith(b"\n"):
            problems.append(f"line {number}: no newline")
    key = next((k for k in RECORD_KEYS if records and all(k in r for r in records)), None)
    if key is not None:
        ids = [str(r[key]) for r in records]
        duplicated = sorted({i for i in ids if ids.count(i) > 1})
        if duplicated:
            problems.append(f"duplicated {key}s: {', '.join(duplicated[:5])}")
    return records, problems


def compare_jsonl(ref: Path, got: Path) -> list[str]:
    (want, _), (have, problems) = _jsonl(ref), _jsonl(got)
    out = list(problems)
    key = next((k for k in RECORD_KEYS if want and all(k in r for r in want)), None)
    a = [normalized(r, ref.name) for r in want]
    b = [normalized(r, got.name) for r in have]
    if a == b:
        return out
    if key is not None:
        ids_a, ids_b = [str(r[key]) for r in want], [str(r[key]) for r in have]
        missing = [i for i in ids_a if i not in ids_b]
        extra = [i for i in ids_b if i not in ids_a]
        if missing:
            out.append(f"lost records: {', '.join(missing[:5])}")
        if extra:
            out.append(f"extra records: {', '.join(extra[:5])}")
        by_id = {str(r[key]): n for r, n in zip(have, b)}
        changed = [i for i, r in zip(ids_a, a) if i in by_id and by_id[i] != r]
        for i in changed[:3]:
            out.append(f"record {i} changed: {_first_difference(a[ids_a.index(i)], by_id[i])}")
        if not missing and not extra and not changed and ids_a != ids_b:
            out.append("same records, another order")
    if not out:
        out.append(f"{len(a)} vs {len(b)} records differ")
    return out


def _sqlite_rows(path: Path) -> dict[str, list[tuple]]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        out = {}
        for table in ("checkpoints", "results"):
            columns = [c[1] for c in conn.execute(f"PRAGMA table_info({table})")]
            kept = [c for c in columns if c not in TIMING_KEYS and c not in HASHES_OF_TIMED_FILES]
            rows = conn.execute(
                f"SELECT {', '.join(kept)} FROM {table} ORDER BY {', '.join(kept)}"
            ).fetchall()
            out[table] = rows
        return out
    finally:
        conn.close()


def compare_store(ref: Path, got: Path) -> list[str]:
    a, b = _sqlite_rows(ref), _sqlite_rows(got)
    out = []
    for table in a:
        if a[table] != b[table]:
            lost = [r for r in a[table] if r not in b[table]]
            extra = [r for r in b[table] if r not in a[table]]
            out.append(
                f"{table}: {len(a[table])} vs {len(b[table])} rows, {len(lost)} lost, {len(extra)} extra"
                + (f" (e.g. {lost[0][:5]})" if lost else f" (e.g. {extra[0][:5]})" if extra else "")
            )
    return out


def store_state(run: Path) -> str:
    """The store as a killed run left it: its metric rows against those of the metrics files on disk."""
    from harness.store import STORE_NAME, metric_rows

    store = run / STORE_NAME
    if not store.is_file():
        return "no store"
    expected = 0
    for path in run.glob("eval/*/*/metrics.json"):
        try:
            expected += len(metric_rows(json.loads(path.read_text())))
        except ValueError:
            return "a torn metrics.json"
    with tempfile.TemporaryDirectory() as tmp:  # a copy: opening the WAL store recovers it
        for suffix in ("", "-wal", "-shm"):
            if Path(f"{store}{suffix}").is_file():
                shutil.copyfile(f"{store}{suffix}", f"{tmp}/{STORE_NAME}{suffix}")
        conn = sqlite3.connect(f"{tmp}/{STORE_NAME}")
        try:
            rows = conn.execute("SELECT COUNT(*) FROM results").fetchone()[0]
        finally:
            conn.close()
    return f"store {rows}/{expected} rows"


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _files(root: Path) -> set[str]:
    skip = ("-wal", "-shm")
    return {
        p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() and not p.name.endswith(skip)
    }


LEFTOVER = re.compile(r"(^|/)\.[^/]*(partial|tmp)")


def compare_runs(ref: Path, got: Path) -> tuple[list[str], list[str]]:
    """(differences, left-over staging files) of run directory ``got`` against ``ref``."""
    import yaml

    want, have = _files(ref), _files(got)
    leftovers = sorted(p for p in have - want if LEFTOVER.search(p))
    (ref_tokens, _), (got_tokens, diffs) = output_tokens(ref), output_tokens(got)
    diffs += [f"missing file {p}" for p in sorted(want - have)]
    diffs += [f"extra file {p}" for p in sorted(have - want) if p not in leftovers]
    for rel in sorted(want & have):
        a, b = ref / rel, got / rel
        if a.suffix == ".jsonl":
            found = compare_jsonl(a, b)
        elif a.suffix == ".json":
            x = normalized(json.loads(a.read_text()), a.name, tokens=ref_tokens)
            y = normalized(json.loads(b.read_text()), b.name, tokens=got_tokens)
            found = [] if x == y else [_first_difference(x, y)]
        elif a.suffix == ".yaml":
            x = normalized(yaml.safe_load(a.read_text()), a.name)
            y = normalized(yaml.safe_load(b.read_text()), b.name)
            found = [] if x == y else [_first_difference(x, y)]
        elif a.suffix == ".sqlite":
            found = compare_store(a, b)
        else:
            found = [] if _sha(a) == _sha(b) else ["bytes differ"]
        diffs += [f"{rel}: {d}" for d in found]
    return diffs, leftovers


# ----------------------------------------------------------------------------- the experiment


@dataclass
class Point:
    label: str
    delay: float | None = None
    kill_on: str | None = None
    after_trigger: float = 0.0
    occurrence: int = 1


def plan(points: int, reference: list[tuple[float, str]], rng: random.Random) -> list[Point]:
    """``points`` kill points: targeted ones (the store's first) alternating with random ones.

    A random point is a uniform time t within the reference run (``reference``: its progress lines
    with the run's own timestamps), replayed as "t - t_k seconds after the k-th progress line", t_k
    being the last line before t: the same place in the run even when the machine's load changes.
    """
    wanted = (points + 1) // 2
    store = [t for t in TARGETS if t[2].startswith("store")]
    others = [t for t in TARGETS if not t[2].startswith("store")]
    targets = store[:wanted] + rng.sample(others, min(len(others), max(0, wanted - len(store))))
    duration = reference[-1][0] if reference else 60.0
    out: list[Point] = []
    for i in range(points):
        if i % 2 == 0 and targets:
            pattern, nth, what = targets.pop(0)
            wait = round(rng.uniform(0.0, 0.05 if what.startswith("store") else 1.5), 3)
            label = f"{nth}. '{pattern}' +{wait:.3f}s"
            out.append(Point(label, kill_on=pattern, after_trigger=wait, occurrence=nth))
            continue
        at = rng.uniform(0.03, 0.97) * duration
        before = [(when, text) for when, text in reference if when <= at]
        if not before:
            out.append(Point(f"at {at:.1f}s", delay=at))
            continue
        when, text = before[-1]
        wait = round(at - when, 3)
        label = f"{at:.0f}s of the reference: line {len(before)} '{text[:24]}' +{wait:.2f}s"
        out.append(Point(label, kill_on="", after_trigger=wait, occurrence=len(before)))
    return out


def reference_lines(log: Path) -> list[tuple[float, str]]:
    """A run log's progress lines with the run's own timestamps (seconds since it started)."""
    timed = re.compile(r"^\[\s*([\d.]+)s\] (.*)$")
    return [
        (float(m.group(1)), m.group(2)) for line in log.read_text().splitlines() if (m := timed.match(line))
    ]


def prepare(work: Path, env: dict[str, str]) -> Path:
    """The template $SRCAL_HOME: the smoke data and both zoo models, built once."""
    template = work / "template"
    if template.is_dir():
        return template
    trial = work / "trial"
    shutil.rmtree(trial, ignore_errors=True)
    code = (
        "from benchmarks.build import build_dataset, load_data_config\n"
        "from benchmarks.fileio import srcal_home\n"
        "from calibrate.zoo.names import resolve_model\n"
        "build_dataset(load_data_config('smoke'), srcal_home() / 'data' / 'smoke')\n"
        "resolve_model('srcal-micro'); resolve_model('srcal-micro-lm')\n"
    )
    subprocess.run(
        [sys.executable, "-c", code], env=env, check=True, cwd=env["PYTHONPATH"].split(os.pathsep)[0]
    )
    os.replace(trial / "home", template)
    shutil.rmtree(trial)
    return template


def fresh_trial(work: Path, template: Path) -> Path:
    trial = work / "trial"
    shutil.rmtree(trial, ignore_errors=True)
    trial.mkdir()
    shutil.copytree(template, trial / "home")
    return trial / "run"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--points", type=int, default=10, help="Kill points (default 10).")
    parser.add_argument("--seed", type=int, default=0, help="Seed of the kill points.")
    parser.add_argument(
        "--work",
        type=Path,
        default=None,
        help="Working directory (default: a temp dir); a reference there is reused.",
    )
    parser.add_argument("--keep", action="store_true", help="Keep the working directory.")
    parser.add_argument(
        "--control", action="store_true", help="Also compare a second uninterrupted run (determinism check)."
    )
    args = parser.parse_args(argv)

    began = time.perf_counter()
    work = (args.work or Path(tempfile.mkdtemp(prefix="srcal-kill-"))).resolve()
    work.mkdir(parents=True, exist_ok=True)
    env = srcal_env(work)
    logs = work / "logs"
    logs.mkdir(exist_ok=True)
    try:
        if not (work / "reference" / "seconds.txt").is_file() or not (work / "code").is_dir():
            for made_by_other_code in ("reference", "template"):
                shutil.rmtree(work / made_by_other_code, ignore_errors=True)
            snapshot(work)
        template = prepare(work, env)
        reference = _reference(work, template, env, logs)
        if reference.rc != 0:
            print(f"the uninterrupted run failed (exit {reference.rc}): see {logs / 'reference.log'}")
            return 2
        ref_run = work / "reference" / "run"
        print(f"reference: {reference.seconds:.1f} s, {len(_files(ref_run))} files in {ref_run}", flush=True)

        points = plan(args.points, reference_lines(logs / "reference.log"), random.Random(args.seed))
        if args.control:
            points.insert(0, Point("control: no kill"))
        rows = []
        for n, point in enumerate(points, start=1):
            row = _trial(n, point, work, template, env, logs, ref_run)
            rows.append(row)
            bad = bool(row["differences"] or row["leftovers"])
            at = f"{row['killed_at_s']:.1f}s" if row["killed_at_s"] is not None else "-"
            print(
                f"[{n}/{len(points)}] {point.label}: killed at {at} in {row['stage']} "
                f"({row['store_at_kill']}): {_verdict(row)}",
                flush=True,
            )
            for line in (row["differences"] + [f"leftover {p}" for p in row["leftovers"]])[:20]:
                print(f"    {line}", flush=True)
            if bad:
                shutil.rmtree(work / f"failed-{n}", ignore_errors=True)
                os.replace(work / "trial", work / f"failed-{n}")
            else:
                shutil.rmtree(work / "trial")
        print_table(rows)
        failed = sum(bool(r["differences"] or r["leftovers"]) for r in rows)
        total = time.perf_counter() - began
        summary = {
            "points": len(rows),
            "equal": len(rows) - failed,
            "reference_s": round(reference.seconds, 1),
            "total_s": round(total, 1),
            "rows": rows,
        }
        (work / "kill_anywhere.json").write_text(json.dumps(summary, indent=2) + "\n")
        print(
            f"\n{len(rows) - failed}/{len(rows)} kill points resumed to the reference; "
            f"reference run {reference.seconds:.0f} s, total {total / 60:.1f} min; details in {work}"
        )
        return 1 if failed else 0
    finally:
        if not args.keep and args.work is None and not any(work.glob("failed-*")):
            shutil.rmtree(work, ignore_errors=True)


def _reference(work: Path, template: Path, env: dict[str, str], logs: Path) -> Launch:
    """The uninterrupted run in ``<work>/reference`` (one already there with its timing is reused)."""
    timing = work / "reference" / "seconds.txt"
    if timing.is_file():
        return Launch(rc=0, seconds=float(timing.read_text()))
    run_dir = fresh_trial(work, template)
    reference = launch(run_command(run_dir, False), env, logs / "reference.log")
    if reference.rc == 0:
        shutil.rmtree(work / "reference", ignore_errors=True)
        (work / "trial" / "seconds.txt").write_text(f"{reference.seconds:.1f}\n")
        os.replace(work / "trial", work / "reference")
    return reference


def _trial(
    n: int, point: Point, work: Path, template: Path, env: dict[str, str], logs: Path, ref_run: Path
) -> dict[str, Any]:
    """One kill point: a fresh run killed there, resumed to completion, compared with the reference."""
    run_dir = fresh_trial(work, template)
    if point.label.startswith("control"):
        killed = Launch(rc=0)
    else:
        killed = launch(
            run_command(run_dir, False),
            env,
            logs / f"kill-{n}.log",
            kill_delay=point.delay,
            kill_on=point.kill_on,
            after_trigger=point.after_trigger,
            occurrence=point.occurrence,
        )
    if killed.killed_at is not None:
        stage = stage_of([t for at, t in killed.lines if at <= killed.killed_at])
    else:
        stage = f"not killed (exit {killed.rc})"
    at_kill = store_state(run_dir)
    resumed = launch(run_command(run_dir, True), env, logs / f"resume-{n}.log")
    samples = (re.search(r": (\d+) of \d+ samples to generate", t) for _, t in resumed.lines)
    if resumed.rc != 0:
        diffs, leftovers = [f"resume failed (exit {resumed.rc}), see {logs / f'resume-{n}.log'}"], []
    else:
        diffs, leftovers = compare_runs(ref_run, run_dir)
    return {
        "n": n,
        "point": point.label,
        "killed_at_s": None if killed.killed_at is None else round(killed.killed_at, 2),
        "stage": stage,
        "store_at_kill": at_kill,
        "resume_s": round(resumed.seconds, 1),
        "stages_rerun": sum(t.endswith(": running") for _, t in resumed.lines),
        "samples_regenerated": sum(int(m.group(1)) for m in samples if m),
        "differences": diffs,
        "leftovers": leftovers,
    }


def _verdict(row: dict[str, Any]) -> str:
    if not (row["differences"] or row["leftovers"]):
        return "equal"
    return f"{len(row['differences'])} differences, {len(row['leftovers'])} leftovers"


def print_table(rows: list[dict[str, Any]]) -> None:
    print(
        "\n| # | kill point | killed at | running when killed | store at kill | stages rerun "
        "| samples regenerated | result |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        at = f"{r['killed_at_s']:.1f} s" if r["killed_at_s"] is not None else "-"
        print(
            f"| {r['n']} | {r['point']} | {at} | {r['stage']} | {r['store_at_kill']} | {r['stages_rerun']} "
            f"| {r['samples_regenerated']} | {_verdict(r)} |"
        )


if __name__ == "__main__":
    sys.exit(main())
