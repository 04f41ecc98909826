"""What the leaderboard plots draw (`leaderboards.plots`), read back from the matplotlib figures of hand-made runs."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from benchmarks.metrics import consistency_metrics
from leaderboards import plots
from leaderboards.results import ORACLE_ARM, Checkpoint, RunResults
from leaderboards.tables import POOLED, leaderboard_frame

N = 20
ORACLE_LABEL = "SRC, facts judge (ORACLE upper bound) iter 2"


def _rows(right: int, consistent_every: int) -> list[dict]:
    return [
        {
            "id": f"q{i}",
            "correct": i < right,
            "consistent": i % consistent_every != 0,
            "parse_status": "ok",
            "rationale": "r",
        }
        for i in range(N)
    ]


def _run(arm: str = "src") -> RunResults:
    """base, iter_0..2 of ``arm``, and two baselines at iteration 2 (one of them the oracle)."""
    ckpts = [
        Checkpoint("demo", "base", "base", None, None),
        Checkpoint("demo", "iter_0", "sft-only", 0, "base"),
        Checkpoint("demo", "iter_1", arm, 1, "iter_0"),
        Checkpoint("demo", "iter_2", arm, 2, "iter_1"),
        Checkpoint("demo", "outcome-dpo", "outcome-dpo", 2, "iter_0"),
    ]
    if arm != ORACLE_ARM:
        ckpts.append(Checkpoint("demo", ORACLE_ARM, ORACLE_ARM, 2, "iter_0"))
    samples = {}
    for k, ckpt in enumerate(ckpts):
        samples[(ckpt.name, "scenes")] = _rows(4 + 2 * k, 2 + k)
        samples[(ckpt.name, "charts")] = _rows(10 - k, 3)
    metrics = pd.DataFrame(columns=["checkpoint", "benchmark", "metric", "value", "ci_low", "ci_high", "n"])
    categories = {"scenes": "perception", "charts": "chart"}
    return RunResults("demo", Path("."), ckpts, metrics, ["scenes", "charts"], categories, samples)


@pytest.fixture
def figures(monkeypatch: pytest.MonkeyPatch) -> dict:
    """Every figure a plot function saves, by file stem (saved as usual)."""
    saved: dict = {}
    save = plots._save

    def keep(fig, out, stem):
        saved[stem] = fig
        return save(fig, out, stem)

    monkeypatch.setattr(plots, "_save", keep)
    return saved


def _pooled(frame, checkpoint: str, column: str) -> float:
    part = frame[(frame.benchmark == POOLED) & (frame.checkpoint == checkpoint) & (frame.column == column)]
    return part.iloc[0]["value"]


def test_trajectory_has_a_point_per_iteration_and_labelled_baselines(figures: dict, tmp_path: Path) -> None:
    results = _run()
    frame = leaderboard_frame([results], bootstrap=50, seed=0)
    paths = plots.trajectory_plot(results, frame, tmp_path)
    assert [p.name for p in paths] == ["demo_trajectory.png", "demo_trajectory.svg"]
    ax = figures["demo_trajectory"].axes[0]
    lines = {line.get_label(): line for line in ax.get_lines()}
    for column in ("accuracy (all)", "consistency"):
        line = lines[column]
        assert list(line.get_xdata()) == [0, 1, 2]  # iter_0, iter_1, iter_2
        expected = [_pooled(frame, f"iter_{k}", column) for k in range(3)]
        assert list(line.get_ydata()) == pytest.approx(expected)
        assert lines[f"{column}, base"].get_ydata()[0] == pytest.approx(_pooled(frame, "base", column))
    _, labels = ax.get_legend_handles_labels()
    for column in ("accuracy (all)", "consistency"):
        assert f"{column}, outcome-dpo" in labels
        assert f"{column}, {ORACLE_LABEL}" in labels  # the oracle never appears as plain SRC
    assert len(ax.containers) == 4  # one error bar per baseline and column
    xs = [container.lines[0].get_xdata()[0] for container in ax.containers]
    markers = [container.lines[0].get_marker() for container in ax.containers]
    # the two baselines at iteration 2 side by side, each with its own marker, the same for both columns
    assert xs == pytest.approx([2.08, 2.08 + plots.BASELINE_STEP] * 2)
    assert markers[:2] == markers[2:] and markers[0] != markers[1]
    # nine entries: the legend sits beside the axes, not over the data
    legend = ax.get_legend()
    assert len(labels) > plots.LEGEND_INSIDE_MAX and legend._loc == 2  # upper left, anchored outside
    assert legend.get_bbox_to_anchor().x0 > ax.get_window_extent().x1
    assert "ORACLE" not in ax.get_title()  # the run's own arm is the learned R-Scorer


def test_trajectory_of_an_oracle_run_says_so_in_its_title(figures: dict, tmp_path: Path) -> None:
    results = _run(ORACLE_ARM)
    plots.trajectory_plot(results, leaderboard_frame([results], bootstrap=50, seed=0), tmp_path)
    assert "ORACLE upper bound" in figures["demo_trajectory"].axes[0].get_title()
    assert figures["demo_trajectory"].axes[0].get_legend()._loc == 0  # six entries: "best", inside


def test_consistency_2x2_has_a_stacked_bar_per_checkpoint(figures: dict, tmp_path: Path) -> None:
    results = _run()
    plots.consistency_2x2_plot(results, tmp_path)
    ax = figures["demo_consistency_2x2"].axes[0]
    labels = [c.label for c in results.checkpoints]
    ticks = [t.get_text() for t in ax.get_xticklabels()]
    assert [t.replace("\n", " ") for t in ticks] == labels
    assert ORACLE_LABEL in labels
    # the oracle's label is too long to slant: every label horizontal, wrapped
    assert all(len(line) <= plots.TICK_WRAP for t in ticks for line in t.split("\n"))
    assert all(t.get_rotation() == 0 for t in ax.get_xticklabels())
    assert [c.get_label() for c in ax.containers] == [name for _, name, _ in plots.SEGMENTS]
    assert all(len(c.patches) == len(labels) for c in ax.containers)
    for k, ckpt in enumerate(results.checkpoints):
        heights = [c.patches[k].get_height() for c in ax.containers]
        assert sum(heights) == pytest.approx(1.0)
        table = consistency_metrics(results.rows(ckpt.name), bootstrap=0)["table"]
        assert heights[0] == pytest.approx(table["correct_consistent"] / 2 / N)


def test_categories_have_a_bar_per_checkpoint_and_group(figures: dict, tmp_path: Path) -> None:
    results = _run()
    plots.category_plot(results, tmp_path)
    ax = figures["demo_categories"].axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["perception & knowledge", "chart"]
    assert [c.get_label() for c in ax.containers] == [c.label for c in results.checkpoints]
    for ckpt, bars in zip(results.checkpoints, ax.containers, strict=True):
        assert len(bars.patches) == 2
        for patch, bench in zip(bars.patches, ("scenes", "charts")):
            rows = results.samples[(ckpt.name, bench)]
            assert patch.get_height() == pytest.approx(sum(r["correct"] for r in rows) / N)
