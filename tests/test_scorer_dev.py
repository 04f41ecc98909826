"""tools/scorer_dev.py: the R-Scorer retrained from a finished scorer stage's candidates (smoke preset)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


def test_same_settings_reproduce_the_stage_and_others_move_it(
    smoke_run: tuple[Path, object], tmp_path: Path
) -> None:
    from tools.scorer_dev import main

    run_dir, _ = smoke_run
    stage = json.loads((run_dir / "scorer" / "scorer.manifest.json").read_text())["summary"]
    same = main(["--run", str(run_dir), "--out", str(tmp_path / "same"), "--preset", "smoke"])["summary"]
    assert same["learning_curve"] == stage["learning_curve"]  # the stage's labels, split and training
    other = main(
        [
            "--run",
            str(run_dir),
            "--out",
            str(tmp_path / "lr"),
            "--preset",
            "smoke",
            "--set",
            "train_learning_rate=1e-2",
        ]
    )
    assert other["set"] == ["train_learning_rate=1e-2"]
    assert other["summary"]["learning_curve"][0] == stage["learning_curve"][0]  # the same held-out items
    assert other["summary"]["learning_curve"][-1] != stage["learning_curve"][-1]
    assert json.loads((tmp_path / "lr" / "scorer_dev.json").read_text())["command"].startswith(
        "python -m tools"
    )


def test_a_run_without_scorer_candidates_is_refused(tmp_path: Path) -> None:
    from tools.scorer_dev import main

    with pytest.raises(SystemExit, match="no scorer candidates"):
        main(["--run", str(tmp_path), "--out", str(tmp_path / "out"), "--preset", "smoke"])
