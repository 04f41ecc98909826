"""tools/kill_anywhere.py: its comparison (fast) and the experiment itself with 3 kill points (slow)."""

from __future__ import annotations

import importlib.util
import json
import sqlite3
import sys
from pathlib import Path
from types import ModuleType

import pytest

TOOL = Path(__file__).resolve().parent.parent / "tools" / "kill_anywhere.py"


@pytest.fixture(scope="module")
def tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("kill_anywhere", TOOL)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def _lines(records: list[dict]) -> str:
    return "".join(json.dumps(r, sort_keys=True) + "\n" for r in records)


def _run_dir(root: Path, samples: list[dict], seconds: float, stamp: str) -> Path:
    bench = root / "eval" / "base" / "digits"
    bench.mkdir(parents=True)
    (bench / "samples.jsonl").write_text(_lines(samples))
    metrics = {"benchmark": "digits", "accuracy": 0.5, "provenance": {"seconds": seconds, "generated_now": 2}}
    (bench / "metrics.json").write_text(json.dumps(metrics))
    conn = sqlite3.connect(root / "results.sqlite")
    conn.execute("CREATE TABLE checkpoints (run TEXT, checkpoint TEXT, PRIMARY KEY (run, checkpoint))")
    conn.execute(
        "CREATE TABLE results (run TEXT, checkpoint TEXT, metric TEXT, value REAL, indexed_at TEXT, "
        "PRIMARY KEY (run, checkpoint, metric))"
    )
    conn.execute("INSERT INTO checkpoints VALUES ('smoke', 'base')")
    conn.execute("INSERT INTO results VALUES ('smoke', 'base', 'accuracy', 0.5, ?)", (stamp,))
    conn.commit()
    conn.close()
    return root


SAMPLES = [{"id": "a", "response": "x", "timing": {"generate_s": 0.1}}, {"id": "b", "response": "y"}]


class TestCompareRuns:
    def test_timings_and_invocation_counters_are_ignored(self, tool: ModuleType, tmp_path: Path) -> None:
        ref = _run_dir(tmp_path / "ref", SAMPLES, 1.0, "2026-01-01")
        timed = [{**SAMPLES[0], "timing": {"generate_s": 9.9}}, SAMPLES[1]]
        got = _run_dir(tmp_path / "got", timed, 7.0, "2026-02-02")
        metrics = got / "eval" / "base" / "digits" / "metrics.json"
        data = json.loads(metrics.read_text())
        data["provenance"]["generated_now"] = 0  # a resumed evaluation generated nothing
        metrics.write_text(json.dumps(data))
        assert tool.compare_runs(ref, got) == ([], [])

    def test_duplicated_lost_and_changed_records_are_differences(
        self, tool: ModuleType, tmp_path: Path
    ) -> None:
        ref = _run_dir(tmp_path / "ref", SAMPLES, 1.0, "t")
        dup = _run_dir(tmp_path / "dup", [SAMPLES[0], SAMPLES[0], SAMPLES[1]], 1.0, "t")
        lost = _run_dir(tmp_path / "lost", SAMPLES[:1], 1.0, "t")
        changed = _run_dir(tmp_path / "changed", [SAMPLES[0], {"id": "b", "response": "z"}], 1.0, "t")
        diffs = tool.compare_runs(ref, dup)[0]
        assert any("duplicated ids: a" in d for d in diffs), diffs
        assert any("lost records: b" in d for d in tool.compare_runs(ref, lost)[0])
        assert any("record b changed" in d and "response" in d for d in tool.compare_runs(ref, changed)[0])

    def test_store_rows_and_leftovers(self, tool: ModuleType, tmp_path: Path) -> None:
        ref = _run_dir(tmp_path / "ref", SAMPLES, 1.0, "t")
        got = _run_dir(tmp_path / "got", SAMPLES, 1.0, "t")
        conn = sqlite3.connect(got / "results.sqlite")
        conn.execute("DELETE FROM results")
        conn.commit()
        conn.close()
        (got / "eval" / ".base.partial-123").mkdir()
        (got / "eval" / ".base.partial-123" / "x.json").write_text("{}")
        diffs, leftovers = tool.compare_runs(ref, got)
        assert diffs == [
            "results.sqlite: results: 1 vs 0 rows, 1 lost, 0 extra (e.g. ('smoke', 'base', 'accuracy', 0.5))"
        ]
        assert leftovers == ["eval/.base.partial-123/x.json"]

    def test_stage_of_names_what_ran(self, tool: ModuleType) -> None:
        lines = ["data/data: running", "evaluating base", "easyvqa: 6 of 6 samples to generate"]
        assert tool.stage_of(lines) == "evaluation base / easyvqa"
        assert tool.stage_of([*lines, "science: accuracy 0.000"]).endswith("(summary, store, index)")
        lines = [*lines, "baseline csr-style: /x", "iter_2/verdicts: running", "verdicts: 6/8 items"]
        assert tool.stage_of(lines) == "csr-style: calibration iter_2/verdicts"
        assert tool.stage_of([]).startswith("start-up")


@pytest.mark.slow
def test_smoke_run_killed_anywhere_resumes_to_the_reference(tool: ModuleType, tmp_path: Path) -> None:
    """Three SIGKILLs (the store's point, a random delay, a targeted stage): each resumes to the reference."""
    rc = tool.main(["--points", "3", "--seed", "1", "--work", str(tmp_path)])
    summary = json.loads((tmp_path / "kill_anywhere.json").read_text())
    assert rc == 0, json.dumps(summary["rows"], indent=2)
    assert summary["points"] == 3 and summary["equal"] == 3
    assert sum(r["killed_at_s"] is not None for r in summary["rows"]) >= 2
