"""Metric definitions and better directions, read from ``leaderboards/metric_definitions.md``.

That file is the one source (docs/metrics.md links to it); it ships inside the package, so an
installed ``srcal leaderboard`` finds it next to this module.
"""

from __future__ import annotations

import functools
import html
import re
from dataclasses import dataclass
from pathlib import Path

SOURCE = Path(__file__).with_name("metric_definitions.md")
HEADER = ["metric", "column", "better", "definition"]
DIRECTIONS = {"higher": True, "lower": False, "none": None}
NOT_A_COLUMN = "–"


@dataclass(frozen=True)
class Definition:
    metric: str
    """The stored key (``metrics.json``), or ``stage.key`` of a per-iteration figure."""
    column: str
    """The leaderboard header, ``–`` for a metric that is not a column."""
    better: str
    """``higher``, ``lower`` or ``none``."""
    text: str
    """The definition, in markdown (code spans, emphasis)."""

    @property
    def higher_is_better(self) -> bool | None:
        return DIRECTIONS[self.better]

    @property
    def anchor(self) -> str:
        return "def-" + re.sub(r"[^a-z0-9_]+", "-", self.metric.lower())

    def html_text(self) -> str:
        """The definition as HTML (escaped; code spans and emphasis kept)."""
        text = html.escape(self.text, quote=False)
        text = re.sub(r"`([^`]+)`", r"<code>\1</code>", text)
        text = re.sub(r"\*\*([^*]+)\*\*", r"<b>\1</b>", text)
        return re.sub(r"\*([^*]+)\*", r"<i>\1</i>", text)

    def plain_text(self) -> str:
        """The definition without markdown (for a tooltip)."""
        return re.sub(r"[`*]", "", self.text)


def parse(text: str, source: str = "metric definitions") -> list[Definition]:
    """The rows of the markdown table whose header is ``| metric | column | better | definition |``."""
    rows: list[Definition] = []
    inside = False
    for number, line in enumerate(text.splitlines(), 1):
        if not line.startswith("|"):
            if rows:
                break  # the end of the table
            inside = False
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells == HEADER:
            inside = True
            continue
        if not inside or set("".join(cells)) <= set("-: "):
            continue
        if len(cells) != 4 or cells[2] not in DIRECTIONS:
            raise ValueError(
                f"{source}:{number}: a definition row needs 4 cells and better in "
                f"{sorted(DIRECTIONS)}: {line!r}"
            )
        rows.append(Definition(cells[0].strip("`"), cells[1], cells[2], cells[3]))
    if not rows:
        raise ValueError(f"{source}: no table with the header | {' | '.join(HEADER)} |")
    return rows


@functools.cache
def definitions() -> tuple[Definition, ...]:
    """Every definition of the packaged file, in its order."""
    if not SOURCE.is_file():
        raise FileNotFoundError(f"{SOURCE}: the metric definitions are missing from this installation")
    return tuple(parse(SOURCE.read_text(encoding="utf-8"), str(SOURCE)))


def by_metric(metric: str) -> Definition | None:
    return next((d for d in definitions() if d.metric == metric), None)


def by_column(column: str) -> Definition | None:
    return next((d for d in definitions() if d.column == column and column != NOT_A_COLUMN), None)


def higher_is_better(metric: str) -> bool | None:
    """True / False where higher / lower values of ``metric`` are better; None where neither is."""
    found = by_metric(metric)
    return found.higher_is_better if found else None
