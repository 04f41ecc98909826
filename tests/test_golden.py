"""Sentinels of the committed results: they fail when a change moves results without regenerating them.

- The smoke run (``srcal run --preset smoke``, srcal-micro) against ``tests/golden/smoke/``, byte for
  byte: its leaderboard CSV, every stage's summary (timing fields aside) and its stage hashes.
  Regenerate with ``python -m tools.golden`` and say why in the commit message.
- The committed demo (``leaderboards/results/tiny/``) and the report (``leaderboards/results/report/``)
  against the stage hashes today's presets plan, computed without running anything: a change of their
  settings cannot land without regenerated results (``python -m tools.golden --publish``).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from harness.fingerprints import dumps, planned_hashes, recorded_hashes, stage_summaries
from harness.run_spec import resolve_run_spec
from tools.golden import GOLDEN, diff, smoke_leaderboard

ROOT = Path(__file__).resolve().parents[1]
REGENERATE = "python -m tools.golden (and say why in the commit message)"


def _same(name: str, expected: str, actual: str) -> None:
    assert expected == actual, f"{name} moved: regenerate with {REGENERATE}\n{diff(expected, actual, name)}"


class TestSmokeGolden:
    def test_leaderboard_csv(
        self, smoke_run: tuple[Path, subprocess.CompletedProcess], tmp_path: Path
    ) -> None:
        run_dir, _ = smoke_run
        actual = smoke_leaderboard(run_dir, tmp_path)
        _same("leaderboard.csv", (GOLDEN / "leaderboard.csv").read_text(), actual)

    def test_stage_summaries(self, smoke_run: tuple[Path, subprocess.CompletedProcess]) -> None:
        run_dir, _ = smoke_run
        actual = dumps(stage_summaries(run_dir))
        _same("stage_summaries.json", (GOLDEN / "stage_summaries.json").read_text(), actual)

    def test_stage_hashes(self, smoke_run: tuple[Path, subprocess.CompletedProcess]) -> None:
        """The run's manifests hold the hashes the planner computes without running (so the planner is right)."""
        run_dir, _ = smoke_run
        recorded = recorded_hashes(run_dir)
        assert recorded == planned_hashes(resolve_run_spec("smoke"))
        _same("stage_hashes.json", (GOLDEN / "stage_hashes.json").read_text(), dumps(recorded))


@pytest.mark.parametrize("preset", ["tiny", "report"])
def test_committed_results_match_todays_preset(preset: str) -> None:
    committed = ROOT / "leaderboards" / "results" / preset / "stage_hashes.json"
    planned = planned_hashes(resolve_run_spec(preset))
    assert json.loads(committed.read_text()) == planned, (
        f"preset {preset!r} no longer plans the stages behind {committed.parent.relative_to(ROOT)}: "
        "rerun it and publish (python -m tools.golden --publish RUN_DIR --preset "
        f"{preset} --out {committed.parent.relative_to(ROOT)})"
    )


class TestPlanner:
    def test_a_setting_moves_its_stage_and_only_it(self) -> None:
        base = planned_hashes(resolve_run_spec("tiny"))
        moved = planned_hashes(resolve_run_spec("tiny", overrides=["preference.learning_rate=1e-4"]))
        for arm, stages in base["arms"].items():
            changed = {s for s in stages if stages[s] != moved["arms"][arm][s]}
            assert changed == {"preference"}, (arm, changed)
        assert moved["eval"] == base["eval"]

    def test_result_neutral_fields_move_nothing(self) -> None:
        base = planned_hashes(resolve_run_spec("tiny"))
        neutral = ["rft.gradient_checkpointing=true", "rft.checkpoint_steps=5", "eval.batch_size=3"]
        assert planned_hashes(resolve_run_spec("tiny", overrides=neutral)) == base

    def test_evaluation_settings_move_the_eval_hash(self) -> None:
        base = planned_hashes(resolve_run_spec("tiny"))
        moved = planned_hashes(resolve_run_spec("tiny", overrides=["eval.max_new_tokens=64"]))
        assert moved["eval"] != base["eval"] and moved["arms"] == base["arms"]

    def test_the_oracle_arm_has_no_scorer_to_train(self) -> None:
        arms = planned_hashes(resolve_run_spec("report"))["arms"]
        assert "scorer" in arms["src"] and "scorer" not in arms["src-facts"]
        assert arms["src"]["verdicts"] != arms["src-facts"]["verdicts"]
        assert arms["src"]["rft"] == arms["src-facts"]["rft"] == arms["outcome-dpo"]["rft"]


def test_counted_targets_move_the_rft_hash_and_gold_moves_nothing() -> None:
    """`rft.rationale_targets` came after the published results: its default keeps their hashes."""
    base = planned_hashes(resolve_run_spec("tiny"))
    assert planned_hashes(resolve_run_spec("tiny", overrides=["rft.rationale_targets=gold"])) == base
    counted = planned_hashes(resolve_run_spec("tiny", overrides=["rft.rationale_targets=counted"]))
    assert counted["arms"]["src"]["rft"] != base["arms"]["src"]["rft"]
    assert counted["arms"]["src"]["data"] == base["arms"]["src"]["data"]


def test_rft_items_count_the_rewritten_targets(smoke_dataset) -> None:
    from benchmarks.records import read_items
    from calibrate.config import RFTConfig
    from calibrate.rationale_sft import rft_items

    pool = read_items(smoke_dataset / "rft.jsonl")
    items, info = rft_items(pool, RFTConfig(rationale_targets="counted"))
    changed = [b for a, b in zip(pool, items) if a.rationale != b.rationale]
    assert info["counted_targets"] == len(changed) > 0 and all(b.suite == "charts" for b in changed)
    assert all(b.rationale.startswith("The chart has ") for b in changed)
    assert "counted_targets" not in rft_items(pool, RFTConfig())[1]
    with pytest.raises(ValueError, match="rationale_targets must be gold or counted"):
        RFTConfig(rationale_targets="short")
