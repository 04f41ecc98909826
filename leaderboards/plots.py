"""Leaderboard plots (matplotlib, PNG and SVG), one set per run.

- ``<run>_trajectory``: pooled accuracy and consistency rate per iteration (base, iter_0..K)
  with 95% CI bands; baselines as points at their iteration.
- ``<run>_consistency_2x2``: the correct x consistent breakdown per checkpoint (stacked
  bars of decided items; undecided items shown as their own segment).
- ``<run>_categories``: accuracy per category group per checkpoint (grouped bars, pooled
  over the benchmarks of the group).
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

from benchmarks.metrics import consistency_metrics
from leaderboards.results import CATEGORY_GROUPS, ORACLE_ARM, RunResults
from leaderboards.tables import POOLED

SEGMENTS = (
    ("correct_consistent", "correct, consistent", "#2b8a3e"),
    ("correct_inconsistent", "correct, inconsistent (lucky)", "#94d82d"),
    ("wrong_consistent", "wrong, consistent (faithful error)", "#f08c00"),
    ("wrong_inconsistent", "wrong, inconsistent", "#c92a2a"),
    ("undecided", "undecided (no rationale / answer)", "#adb5bd"),
)
# baselines drawn at the same iteration sit side by side, each with its own marker
BASELINE_STEP = 0.14
BASELINE_MARKERS = ("s", "D", "^", "v", "P", "X")
LEGEND_INSIDE_MAX = 6  # a longer legend goes beside the axes, off the data
TICK_ROTATED_MAX = 20  # checkpoint labels up to this long sit under their bars on one slanted line;
TICK_WRAP = 14  # longer ones make every label horizontal, wrapped at this many characters a line


def _save(fig: Any, out: Path, stem: str) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{stem}.png", out / f"{stem}.svg"]
    fig.savefig(paths[0], dpi=120, bbox_inches="tight")
    fig.savefig(paths[1], bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return paths


def trajectory_plot(results: RunResults, frame: Any, out: Path) -> list[Path]:
    import matplotlib.pyplot as plt

    part = frame[(frame.run == results.run) & (frame.benchmark == POOLED)]
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    baselines = [
        c
        for c in results.checkpoints
        if not (c.name.startswith("iter_") or c.name == "base" or c.iteration is None)
    ]
    for column, color in (("accuracy (all)", "#1c7ed6"), ("consistency", "#e8590c")):
        rows = part[part.column == column]
        line = [
            (c, rows[rows.checkpoint == c.name].iloc[0])
            for c in results.checkpoints
            if c.name.startswith("iter_") and not rows[rows.checkpoint == c.name].empty
        ]
        xs = [c.iteration for c, _ in line]
        ys = [r["value"] for _, r in line]
        if any(y is not None and y == y for y in ys):
            ax.plot(xs, ys, marker="o", color=color, label=column)
            lo = [r["ci_low"] for _, r in line]
            hi = [r["ci_high"] for _, r in line]
            if all(v is not None and v == v for v in lo + hi):
                ax.fill_between(xs, lo, hi, color=color, alpha=0.15)
        base = rows[rows.checkpoint == "base"]
        if (
            not base.empty
            and base.iloc[0]["value"] == base.iloc[0]["value"]
            and base.iloc[0]["value"] is not None
        ):
            ax.axhline(
                base.iloc[0]["value"], color=color, linestyle=":", linewidth=1, label=f"{column}, base"
            )
        for k, c in enumerate(baselines):
            r = rows[rows.checkpoint == c.name]
            if not r.empty and r.iloc[0]["value"] is not None and r.iloc[0]["value"] == r.iloc[0]["value"]:
                ax.errorbar(
                    [c.iteration + 0.08 + BASELINE_STEP * k],
                    [r.iloc[0]["value"]],
                    yerr=[
                        [r.iloc[0]["value"] - r.iloc[0]["ci_low"]],
                        [r.iloc[0]["ci_high"] - r.iloc[0]["value"]],
                    ],
                    fmt=BASELINE_MARKERS[k % len(BASELINE_MARKERS)],
                    color=color,
                    capsize=4,
                    elinewidth=1.6,
                    markeredgecolor="#212529",
                    label=f"{column}, {c.label if c.method == ORACLE_ARM else c.name}",
                )
    iterations = [c.iteration for c in results.checkpoints if c.iteration is not None]
    ax.set_xticks(range(max(iterations, default=0) + 1))
    ax.set_xlabel("calibration iteration (0 = rationale fine-tuning)")
    ax.set_ylabel("rate (pooled over benchmarks)")
    ax.set_ylim(0, 1)
    oracle = any(c.method == ORACLE_ARM and c.name.startswith("iter_") for c in results.checkpoints)
    suffix = " [SRC judged by facts: ORACLE upper bound]" if oracle else ""
    ax.set_title(f"{results.run}: accuracy and rationale-answer consistency (95% CI){suffix}", fontsize=9)
    if len(ax.get_legend_handles_labels()[1]) > LEGEND_INSIDE_MAX:
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1), framealpha=0.9)
    else:
        ax.legend(fontsize=8, loc="best", framealpha=0.9)
    return _save(fig, out, f"{results.run}_trajectory")


def consistency_2x2_plot(results: RunResults, out: Path) -> list[Path]:
    import matplotlib.pyplot as plt

    labels, stacks = [], {key: [] for key, _, _ in SEGMENTS}
    for ckpt in results.checkpoints:
        rows = results.rows(ckpt.name)
        m = consistency_metrics(rows, bootstrap=0)
        labels.append(ckpt.label)
        for key, _, _ in SEGMENTS[:4]:
            stacks[key].append(m["table"][key] / max(m["n"], 1))
        stacks["undecided"].append((m["n"] - m["decided"]) / max(m["n"], 1))
    fig, ax = plt.subplots(figsize=(max(6.4, 1.1 * len(labels)), 4.6))
    bottom = [0.0] * len(labels)
    for key, name, color in SEGMENTS:
        ax.bar(labels, stacks[key], bottom=bottom, color=color, label=name)
        bottom = [b + v for b, v in zip(bottom, stacks[key])]
    ax.set_ylabel("share of items")
    ax.set_title(f"{results.run}: correct x consistent")
    # below the bars and their labels, two columns, at the tick labels' size: readable when the
    # page scales the plot down
    if max(len(label) for label in labels) <= TICK_ROTATED_MAX:
        ax.tick_params(axis="x", rotation=30, labelsize=9)
        below = -0.3
    else:  # slanted long labels run into their neighbours: horizontal and wrapped instead
        wrapped = [textwrap.fill(label, TICK_WRAP) for label in labels]
        ax.set_xticks(range(len(labels)), wrapped)
        ax.tick_params(axis="x", labelsize=9)
        below = -0.08 - 0.055 * max(label.count("\n") + 1 for label in wrapped)
    ax.legend(fontsize=10, loc="upper center", bbox_to_anchor=(0.5, below), ncol=2, frameon=False)
    return _save(fig, out, f"{results.run}_consistency_2x2")


def category_plot(results: RunResults, out: Path) -> list[Path]:
    import matplotlib.pyplot as plt
    import numpy as np

    groups: dict[str, list[str]] = {}
    for bench in results.benchmarks:
        group = CATEGORY_GROUPS.get(results.categories.get(bench, ""), "other")
        groups.setdefault(group, []).append(bench)
    names = list(groups)
    fig, ax = plt.subplots(figsize=(max(5, 1.6 * len(names)), 3.8))
    width = 0.8 / max(len(results.checkpoints), 1)
    for k, ckpt in enumerate(results.checkpoints):
        values = []
        for group in names:
            rows = results.rows(ckpt.name, groups[group])
            values.append(sum(bool(r["correct"]) for r in rows) / len(rows) if rows else 0.0)
        ax.bar(np.arange(len(names)) + k * width, values, width, label=ckpt.label)
    ax.set_xticks(np.arange(len(names)) + width * (len(results.checkpoints) - 1) / 2)
    ax.set_xticklabels(names)
    ax.set_ylabel("accuracy")
    ax.set_ylim(bottom=0)  # all-zero bars would otherwise get an axis down to -0.04
    ax.set_title(f"{results.run}: accuracy per category")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1, 1))
    return _save(fig, out, f"{results.run}_categories")


def all_plots(runs: list[RunResults], frame: Any, out: Path) -> list[Path]:
    paths: list[Path] = []
    for results in runs:
        paths += trajectory_plot(results, frame, out)
        paths += consistency_2x2_plot(results, out)
        paths += category_plot(results, out)
    return paths
