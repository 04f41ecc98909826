"""``srcal run --preset smoke``: calibration with every checkpoint evaluated, and the results store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.registry import BUILTIN_SUITES
from harness.store import ResultsStore

CHECKPOINTS = ("base", "iter_0", "iter_1", "iter_2", "iter_3", "outcome-dpo", "csr-style")


def _run(run_dir: Path, *extra: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "harness.cli", "run", "--preset", "smoke", "--run-dir", str(run_dir), *extra]
    return subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ), timeout=1200)


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess]:
    run_dir = tmp_path_factory.mktemp("run") / "smoke"
    proc = _run(run_dir)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return run_dir, proc


def test_every_checkpoint_is_evaluated(smoke_run: tuple[Path, subprocess.CompletedProcess]) -> None:
    run_dir, proc = smoke_run
    for checkpoint in CHECKPOINTS:
        for bench in BUILTIN_SUITES:
            metrics = json.loads((run_dir / "eval" / checkpoint / bench / "metrics.json").read_text())
            assert metrics["n"] == 6
            for key in (
                "consistency_rate",
                "consistency_coverage",
                "lucky_answer_rate",
                "faithful_error_rate",
            ):
                assert key in metrics
            assert set(metrics["table"]) == {
                "correct_consistent",
                "correct_inconsistent",
                "wrong_consistent",
                "wrong_inconsistent",
            }
            assert "accuracy" in metrics["ci95"]
    index = json.loads((run_dir / "eval" / "index.json").read_text())
    assert index["order"] == list(CHECKPOINTS)
    assert index["checkpoints"]["iter_0"]["method"] == "sft-only"
    assert index["checkpoints"]["outcome-dpo"]["iteration"] == 3
    # Baselines start from this run's iter_0 instead of training it again.
    rft = (run_dir / "baselines" / "outcome-dpo" / "iter_0" / "adapter" / "adapter_model.safetensors").stat()
    assert rft.st_ino == (run_dir / "iter_0" / "adapter" / "adapter_model.safetensors").stat().st_ino
    # The checkpoints differ: evaluation saw different weights.
    hashes = {index["checkpoints"][c]["model_hash"] for c in CHECKPOINTS}
    assert len(hashes) == len(CHECKPOINTS)


def test_store_matches_the_metrics_files(smoke_run: tuple[Path, subprocess.CompletedProcess]) -> None:
    run_dir, _ = smoke_run
    with ResultsStore(run_dir / "results.sqlite") as store:
        assert store.journal_mode() == "wal"
        frame = store.frame()
        assert set(frame["checkpoint"]) == set(CHECKPOINTS)
        assert set(frame["benchmark"]) == set(BUILTIN_SUITES)
        for checkpoint in ("base", "iter_3", "csr-style"):
            metrics = json.loads((run_dir / "eval" / checkpoint / "digits" / "metrics.json").read_text())
            for name in ("accuracy", "parse_failure_rate", "consistency_coverage"):
                assert store.value("smoke", checkpoint, "digits", name) == pytest.approx(metrics[name])
            lo, hi = metrics["ci95"]["accuracy"]
            row = frame[
                (frame.checkpoint == checkpoint)
                & (frame.benchmark == "digits")
                & (frame.metric == "accuracy")
            ]
            assert (row.ci_low.item(), row.ci_high.item()) == pytest.approx((lo, hi))
        ckpts = store.frame("SELECT * FROM checkpoints ORDER BY checkpoint")
        assert set(ckpts["checkpoint"]) == set(CHECKPOINTS)
        # The store is an index: rebuilt from the files it gives the same rows.
        before = store.frame("SELECT checkpoint, benchmark, metric, value FROM results ORDER BY 1, 2, 3")
        store.refresh(run_dir, "smoke")
        after = store.frame("SELECT checkpoint, benchmark, metric, value FROM results ORDER BY 1, 2, 3")
        assert before.equals(after)


def test_resume_recomputes_nothing(smoke_run: tuple[Path, subprocess.CompletedProcess]) -> None:
    run_dir, _ = smoke_run
    refused = _run(run_dir)
    assert refused.returncode == 1 and "--resume" in refused.stderr
    stamp = (run_dir / "eval" / "iter_2" / "scenes" / "metrics.json").stat().st_mtime_ns
    again = _run(run_dir, "--resume")
    assert again.returncode == 0, again.stderr[-3000:]
    assert "samples to generate" not in again.stdout
    assert "running" not in again.stdout  # every calibration stage skipped
    assert (run_dir / "eval" / "iter_2" / "scenes" / "metrics.json").stat().st_mtime_ns == stamp
