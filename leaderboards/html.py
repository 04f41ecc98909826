"""A static leaderboard page: sortable tables, deltas, trajectories and embedded plots.

Self-contained (plots inlined as base64 PNG, a few lines of inline JavaScript for sorting):
it needs no network and no server at view time.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Any

from leaderboards.results import RunResults
from leaderboards.tables import (
    cell_text,
    comparison_rows,
    delta_text,
    fmt,
    groups_of,
    has_value,
    reader_note,
    reference_columns,
    trajectory_frame,
    wide,
)

SORT_JS = """
document.querySelectorAll('table.sortable th').forEach(function (th, col) {
  th.addEventListener('click', function () {
    var table = th.closest('table'), body = table.tBodies[0];
    var rows = Array.from(body.rows), asc = th.dataset.asc !== 'true';
    rows.sort(function (a, b) {
      var x = a.cells[th.cellIndex].dataset.v, y = b.cells[th.cellIndex].dataset.v;
      var fx = parseFloat(x), fy = parseFloat(y);
      if (!isNaN(fx) && !isNaN(fy)) { return asc ? fx - fy : fy - fx; }
      return asc ? String(x).localeCompare(y) : String(y).localeCompare(x);
    });
    th.dataset.asc = asc;
    rows.forEach(function (r) { body.appendChild(r); });
  });
});
"""
STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.85em; }
th, td { border-bottom: 1px solid #ddd; padding: 4px 8px; text-align: right; white-space: nowrap; }
th { cursor: pointer; background: #f4f4f4; }
td:first-child, th:first-child { text-align: left; }
.ci { color: #888; font-size: 0.85em; }
.group { text-align: center; background: #e9ecef; cursor: default; }
b { color: #0b7285; }
img { max-width: 48%; margin: 0.5em; border: 1px solid #eee; }
"""


def _esc(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _results_table(results: RunResults, frame: Any) -> str:
    labels, cols, cells = wide(frame, results.run)
    groups = groups_of(frame, results.run)
    out = ['<table class="sortable">', "<thead><tr><th></th>"]
    out += [f'<th class="group" colspan="{len(c)}">{_esc(g)}</th>' for g, c in groups]
    out.append(
        "</tr><tr><th>checkpoint</th>" + "".join(f"<th>{_esc(c)}</th>" for c in cols) + "</tr></thead><tbody>"
    )
    for label in labels:
        out.append(f'<tr><td data-v="{_esc(label)}">{_esc(label)}</td>')
        for col in cols:
            cell = cells.get((label, col))
            if not has_value(cell):
                out.append('<td data-v="">–</td>')
                continue
            value = fmt(cell["value"])
            value = f"<b>{value}</b>" if cell["best"] else value
            ci = cell_text(cell)[len(fmt(cell["value"])) :]
            deltas = " / ".join(p for p in (delta_text(cell, "base"), delta_text(cell, "prev")) if p)
            title = f' title="vs base / vs previous: {_esc(deltas)}"' if deltas else ""
            out.append(f'<td data-v="{cell["value"]}"{title}>{value}<span class="ci">{_esc(ci)}</span></td>')
        out.append("</tr>")
    out.append("</tbody></table>")
    return "\n".join(out)


def _frame_table(frame: Any) -> str:
    head = "".join(f"<th>{_esc(c)}</th>" for c in frame.columns)
    rows = []
    for _, r in frame.iterrows():
        tds = "".join(
            f'<td data-v="{_esc(v)}">{_esc(fmt(v) if isinstance(v, float) else v)}</td>' for v in r.values
        )
        rows.append(f"<tr>{tds}</tr>")
    return f'<table class="sortable"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def _img(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<img alt="{_esc(path.stem)}" src="data:image/png;base64,{data}">'


def to_html(
    runs: list[RunResults],
    frame: Any,
    plots: list[Path],
    reference: list[dict[str, Any]] | None = None,
    provenance: str = "",
    comparisons: Any = None,
) -> str:
    import pandas as pd

    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>srcal leaderboard</title>",
        f"<style>{STYLE}</style></head><body><h1>srcal leaderboard</h1>",
        f"<p>{_esc(provenance)}</p>",
        "<p>Cells: value with 95% bootstrap CI; bold: best per column; hover a cell for its deltas vs the base "
        "and vs the checkpoint it was trained from (* = paired-bootstrap 95% CI excludes 0). Click a header to sort.</p>",
    ]
    for results in runs:
        parts.append(f"<h2>{_esc(results.run)}</h2>")
        parts.append(_results_table(results, frame))
        if note := reader_note(results):
            parts.append(f"<p>{_esc(note)}</p>")
        traj = trajectory_frame(results, frame)
        if not traj.empty:
            parts.append("<h3>Per-iteration trajectory</h3>" + _frame_table(traj))
        parts += [_img(p) for p in plots if p.suffix == ".png" and p.stem.startswith(f"{results.run}_")]
    if comparisons is not None and not comparisons.empty:
        header, rows = comparison_rows(comparisons)
        parts.append(
            "<h2>Paired comparisons</h2><p>Pooled over each run's benchmarks, same items: delta [95% CI], "
            "paired-bootstrap p (* = CI excludes 0), minimum detectable effect (MDE: 80% power, 5% level; "
            "a CI holding 0 with a large MDE means too few items, not no effect).</p>"
            + _frame_table(pd.DataFrame(rows, columns=header))
        )
    if reference:
        columns = reference_columns(reference)
        ref = pd.DataFrame.from_records(
            [
                {
                    "model": r["model"],
                    **{h: r["values"].get(b) for b, h in columns.items()},
                    "source": r["table"],
                }
                for r in reference
            ]
        )
        parts.append("<h2>Published reference rows (source: paper)</h2>" + _frame_table(ref))
    parts.append(f"<script>{SORT_JS}</script></body></html>")
    return "\n".join(parts)
