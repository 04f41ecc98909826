"""Paired comparisons and published-row columns of the leaderboard, on hand-made runs."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from leaderboards.results import Checkpoint, RunResults
from leaderboards.tables import (
    comparison_frame,
    comparison_rows,
    default_comparisons,
    leaderboard_frame,
    reference_columns,
    to_csv,
    to_markdown,
)


def _rows(correct: list[bool], consistent: list[bool | None]) -> list[dict]:
    return [
        {"id": f"q{i}", "correct": c, "consistent": k, "parse_status": "ok", "rationale": "r"}
        for i, (c, k) in enumerate(zip(correct, consistent, strict=True))
    ]


def _run() -> RunResults:
    n = 40
    ckpts = [
        Checkpoint("demo", "base", "base", None, None),
        Checkpoint("demo", "iter_0", "sft-only", 0, "base"),
        Checkpoint("demo", "iter_1", "src", 1, "iter_0"),
        Checkpoint("demo", "iter_2", "src", 2, "iter_1"),
        Checkpoint("demo", "outcome-dpo", "outcome-dpo", 2, "iter_0"),
    ]
    samples = {
        ("base", "suite"): _rows([i < 10 for i in range(n)], [None] * n),
        ("iter_0", "suite"): _rows([i < 10 for i in range(n)], [i % 2 == 0 for i in range(n)]),
        ("iter_1", "suite"): _rows([i < 12 for i in range(n)], [i % 2 == 0 for i in range(n)]),
        # iter_2 is right on 30 of 40 where iter_0 is right on 10: a clear, paired gain
        ("iter_2", "suite"): _rows([i < 30 for i in range(n)], [i % 4 != 3 for i in range(n)]),
        ("outcome-dpo", "suite"): _rows([i < 11 for i in range(n)], [True] * n),
    }
    return RunResults("demo", Path("."), ckpts, pd.DataFrame(), ["suite"], {"suite": "perception"}, samples)


def test_default_comparisons_take_the_last_iteration_against_sft_only_and_baselines() -> None:
    assert default_comparisons(_run()) == [("iter_2", "iter_0"), ("iter_2", "outcome-dpo")]


def test_paired_comparison_values_and_significance() -> None:
    frame = comparison_frame([_run()], bootstrap=500, seed=0)
    acc = frame[(frame.checkpoint == "iter_2") & (frame.vs == "iter_0") & (frame.metric == "accuracy")].iloc[
        0
    ]
    assert acc["delta"] == pytest.approx(30 / 40 - 10 / 40)
    assert acc["ci_low"] > 0 and acc["significant"] and acc["p"] < 0.01 and acc["items"] == 40
    cons = frame[(frame.vs == "iter_0") & (frame.metric == "consistency_rate")].iloc[0]
    assert cons["delta"] == pytest.approx(30 / 40 - 20 / 40)
    # Reversing the pair flips the sign; a chosen pair replaces the defaults.
    back = comparison_frame([_run()], [("iter_0", "iter_2")], bootstrap=500, seed=0)
    assert set(back["comparison"]) == {"sft-only (iter_0) vs SRC iter 2"}
    assert back[back.metric == "accuracy"]["delta"].item() == pytest.approx(-acc["delta"])
    header, rows = comparison_rows(frame)
    assert header[:2] == ["run", "comparison"] and header[-1] == "items" and len(rows) == 2
    assert rows[0][2].startswith("+0.500* [") and " MDE 0." in rows[0][2]


def test_minimum_detectable_effect_next_to_every_comparison() -> None:
    from benchmarks.metrics import minimum_detectable_effect

    assert minimum_detectable_effect(0.01) == pytest.approx(0.0280, abs=1e-4)  # (1.960 + 0.842) x SE
    frame = comparison_frame([_run()], bootstrap=2000, seed=0)
    acc = frame[(frame.vs == "iter_0") & (frame.metric == "accuracy")].iloc[0]
    # paired differences: 1 on 20 of 40 items, 0 on the rest: SE = 0.5 / sqrt(40) = 0.079, MDE = 0.22
    assert acc["mde"] == pytest.approx(2.80 * 0.5 / 40**0.5, rel=0.12)
    with_ci = frame[frame["ci_low"].notna()]
    assert len(with_ci) >= 8 and (with_ci["mde"] > 0).all()  # wherever there is a CI, there is an MDE


def test_unknown_checkpoint_in_a_comparison_suggests_the_closest() -> None:
    with pytest.raises(ValueError, match="did you mean 'iter_2'"):
        comparison_frame([_run()], [("iter_22", "iter_0")])


def test_comparisons_in_the_csv_are_marked_paired() -> None:
    paired = comparison_frame([_run()], bootstrap=200, seed=0)
    frame = pd.DataFrame([{"run": "demo", "checkpoint": "base", "value": 0.25, "source": "reproduced"}])
    import io

    out = pd.read_csv(io.StringIO(to_csv(frame, None, paired)))
    rows = out[out.source == "paired"]
    assert len(rows) == len(paired) and set(rows["benchmark"]) == {"*"}
    assert rows["value"].tolist() == pytest.approx(paired["delta"].tolist(), nan_ok=True)


def test_reference_columns_name_a_metric_other_than_accuracy() -> None:
    rows = [
        {"values": {"pope": 0.86, "mmbench": 0.6}, "metric": "accuracy", "metrics": {"pope": "f1"}},
        {"values": {"pope": 0.87}, "metric": "f1"},
    ]
    assert reference_columns(rows) == {"pope": "pope (f1)", "mmbench": "mmbench"}


def test_consistency_header_names_a_shared_reader_and_notes_differing_ones() -> None:
    results = _run()
    results.metrics = pd.DataFrame(
        columns=["checkpoint", "benchmark", "metric", "value", "ci_low", "ci_high", "n"]
    )
    results.readers = {c.name: "conclusion" for c in results.checkpoints}
    frame = leaderboard_frame([results], bootstrap=50, seed=0)
    assert "claim coverage" in set(frame["column"])
    assert set(frame[frame.benchmark == "*"]["group"]) == {"overall", "consistency (reader: conclusion)"}
    assert "**consistency (reader: conclusion)**" in to_markdown([results], frame)
    results.readers["iter_2"] = "lm"
    frame = leaderboard_frame([results], bootstrap=50, seed=0)
    assert "consistency" in set(frame["group"])
    text = to_markdown([results], frame)
    assert "Consistency read by different readers (conclusion: base, " in text and "lm: SRC iter 2" in text


def test_the_oracle_arm_is_labelled_oracle() -> None:
    from leaderboards.results import Checkpoint

    for name in ("iter_2", "src-facts"):
        label = Checkpoint("r", name, "src-facts", 2, "iter_1").label
        assert "ORACLE" in label and not label.startswith("SRC iter")
    assert Checkpoint("r", "iter_2", "src", 2, "iter_1").label == "SRC iter 2"


def test_the_scorer_learning_curve_is_read_from_its_manifest_and_printed(tmp_path: Path) -> None:
    import json

    from leaderboards.results import _scorer_curve

    curve = [
        {"step": 0, "pairs_seen": 0, "agreement": 0.3, "decisive_agreement": 0.1, "nll": 1.2},
        {"step": 25, "pairs_seen": 200, "agreement": 0.6, "decisive_agreement": 0.72, "nll": 0.8},
    ]
    (tmp_path / "scorer").mkdir()
    (tmp_path / "scorer" / "scorer.manifest.json").write_text(
        json.dumps({"summary": {"learning_curve": curve}})
    )
    assert _scorer_curve(tmp_path) == curve
    assert _scorer_curve(tmp_path / "no-run") == []
    results = _run()
    results.metrics = pd.DataFrame(
        columns=["checkpoint", "benchmark", "metric", "value", "ci_low", "ci_high", "n"]
    )
    results.scorer_curve = curve
    text = to_markdown([results], leaderboard_frame([results], bootstrap=50, seed=0))
    assert "learning curve" in text
    assert "| 25 | 200 | 0.720 | 0.600 | 0.800 |" in text
