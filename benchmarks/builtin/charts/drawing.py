"""Chart drawing: bar, line and pie charts rendered with matplotlib as 224x224 px PIL images.

Every value is written on the chart (above bars and points, inside pie slices), so each
question's answer can be read off the image. Drawing uses matplotlib's object-oriented API
(no pyplot state), one figure per chart.
"""

from __future__ import annotations

import math
import textwrap
from typing import Any

from benchmarks.builtin.charts.sources import Spec

PALETTE = (
    "#4c72b0",
    "#dd8452",
    "#55a868",
    "#c44e52",
    "#8172b3",
    "#937860",
    "#da8bc3",
    "#8c8c8c",
    "#ccb974",
    "#64b5cd",
)


def render(spec: Spec, style: dict[str, Any]) -> Any:
    """Draw the chart with matplotlib's object-oriented API (no pyplot state) as a PIL image."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from PIL import Image

    labels = list(spec["values"])
    values = list(spec["values"].values())
    fig = Figure(figsize=(2.24, 2.24), dpi=100, facecolor="white")
    canvas = FigureCanvasAgg(fig)
    color = style["color"]
    fig.suptitle(textwrap.fill(spec["title"], 46, break_on_hyphens=False), fontsize=6.5, y=0.985, va="top")
    top = max(values) or 1
    if spec["chart_type"] == "pie":
        _draw_pie(fig, labels, values, style["palette_start"])
    else:
        if spec["chart_type"] == "line":
            ax = _draw_line(fig, labels, values, color, top, spec["x_label"])
        elif style["horizontal"]:
            ax = _draw_horizontal_bars(fig, labels, values, color, top)
        else:
            ax = _draw_vertical_bars(fig, labels, values, color, top)
        for side in ("top", "right", "bottom" if style["horizontal"] else "left"):
            ax.spines[side].set_visible(False)
        ax.tick_params(length=2, pad=1)
    canvas.draw()
    width, height = canvas.get_width_height()
    image = Image.frombuffer("RGBA", (width, height), bytes(canvas.buffer_rgba()), "raw", "RGBA", 0, 1)
    fig.clear()
    return image.convert("RGB")


def _draw_pie(fig: Any, labels: list[str], values: list[int], palette_start: int) -> Any:
    """Slices clockwise from twelve o'clock, each labelled outside and its percentage inside."""
    n = len(values)
    ax = fig.add_axes((0.17, 0.08, 0.66, 0.76))
    colors = [PALETTE[(palette_start + i) % len(PALETTE)] for i in range(n)]
    wedges, texts = ax.pie(
        values,
        labels=labels,
        colors=colors,
        startangle=90,
        counterclock=False,
        labeldistance=1.08,
        textprops={"fontsize": 6},
        wedgeprops={"linewidth": 0.6, "edgecolor": "white"},
    )
    for wedge, v in zip(wedges, values):
        theta = math.radians((wedge.theta1 + wedge.theta2) / 2)
        ax.text(
            0.62 * math.cos(theta),
            0.62 * math.sin(theta),
            f"{v}%",
            ha="center",
            va="center",
            fontsize=6,
            color="black",
        )
    ax.set_aspect("equal")
    return ax


def _draw_line(fig: Any, labels: list[str], values: list[int], color: str, top: int, x_label: str) -> Any:
    """A line with markers; each value written above or below its point, away from its neighbours."""
    n = len(values)
    ax = fig.add_axes((0.14, 0.2, 0.8, 0.66))
    ax.plot(range(n), values, color=color, marker="o", markersize=2.5, linewidth=1.2)
    low = min(values)
    pad = (top - low) * 0.2 or 1
    ax.set_ylim(low - pad * 0.6, top + pad)
    for i, v in enumerate(values):
        neighbours = [values[j] for j in (i - 1, i + 1) if 0 <= j < n]
        below = v < sum(neighbours) / len(neighbours)
        offset = -pad * 0.15 if below else pad * 0.15
        ax.text(i, v + offset, str(v), ha="center", va="top" if below else "bottom", fontsize=5.5)
    ax.set_xticks(range(n), labels, fontsize=5.5, rotation=45 if n > 6 else 0)
    ax.set_xlim(-0.5, n - 0.5)
    ax.set_yticks([])
    ax.set_xlabel(x_label, fontsize=5.5, labelpad=1)
    return ax


def _draw_horizontal_bars(fig: Any, labels: list[str], values: list[int], color: str, top: int) -> Any:
    """Bars from the left, first label on top, each value written after its bar."""
    n = len(values)
    width = max(len(label) for label in labels)
    left = min(0.42, 0.05 + 0.021 * width)
    ax = fig.add_axes((left, 0.1, 0.93 - left, 0.76))
    ax.barh(range(n), values, color=color, height=0.65)
    ax.set_yticks(range(n), labels, fontsize=5.5)
    ax.invert_yaxis()
    ax.set_xlim(0, top * 1.28)
    for i, v in enumerate(values):
        ax.text(v + top * 0.02, i, str(v), ha="left", va="center", fontsize=5.5)
    ax.set_xticks([])
    return ax


def _draw_vertical_bars(fig: Any, labels: list[str], values: list[int], color: str, top: int) -> Any:
    """Bars from the bottom, each value written above its bar."""
    n = len(values)
    ax = fig.add_axes((0.14, 0.17, 0.82, 0.69))
    ax.bar(range(n), values, color=color, width=0.65)
    ax.set_ylim(0, top * 1.18)
    for i, v in enumerate(values):
        ax.text(i, v + top * 0.015, str(v), ha="center", va="bottom", fontsize=5.5)
    ax.set_xticks(range(n), labels, fontsize=5.5)
    ax.set_yticks([])
    return ax
