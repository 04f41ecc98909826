"""A static leaderboard page: sortable tables, deltas, trajectories, embedded plots and metric definitions.

Self-contained (plots inlined as base64 PNG, CSS and a few lines of JavaScript inline): it loads
nothing from the network and needs no server. Every table scrolls inside its own container with the
first column sticky; a column header sorts its column (again: reversed; empty cells stay last);
a plot opens at full size on click. The definitions and better directions come from
``leaderboards/metric_definitions.md`` (:mod:`leaderboards.definitions`).
"""

from __future__ import annotations

import base64
import html
import math
from pathlib import Path
from typing import Any

from leaderboards.definitions import Definition, by_column, by_metric, definitions
from leaderboards.results import RunResults
from leaderboards.tables import (
    best_value,
    fmt,
    groups_of,
    has_value,
    reader_note,
    reference_columns,
    trajectory_frame,
    wide,
)

MISSING = "–"
"""The one marker of a missing value, in every table."""
DIRECTION_BADGE = {"higher": "↑ better", "lower": "↓ better", "none": "no direction"}

SCRIPT = """
(function () {
  function sortBy(th) {
    var table = th.closest('table'), body = table.tBodies[0], col = Number(th.dataset.column);
    var now = th.getAttribute('aria-sort');
    var dir = now ? (now === 'ascending' ? 'descending' : 'ascending') : (th.dataset.first || 'ascending');
    table.querySelectorAll('th[aria-sort]').forEach(function (h) { h.removeAttribute('aria-sort'); });
    th.setAttribute('aria-sort', dir);
    var sign = dir === 'ascending' ? 1 : -1, rows = Array.from(body.rows);
    rows.sort(function (a, b) {
      var x = a.cells[col].dataset.v, y = b.cells[col].dataset.v;
      if (x === '' || y === '') { return (x === '') - (y === ''); }  /* empty last, either direction */
      var fx = Number(x), fy = Number(y);
      return sign * (isNaN(fx) || isNaN(fy) ? x.localeCompare(y) : fx - fy);
    });
    rows.forEach(function (r) { body.appendChild(r); });
  }
  function onKey(f) {
    return function (e) { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); f(); } };
  }
  document.querySelectorAll('th[data-column]').forEach(function (th) {
    th.addEventListener('click', function () { sortBy(th); });
    th.addEventListener('keydown', onKey(function () { sortBy(th); }));
  });
  document.querySelectorAll('figure.plot').forEach(function (fig) {
    function toggle() {
      fig.classList.toggle('zoomed');
      fig.setAttribute('aria-expanded', String(fig.classList.contains('zoomed')));
    }
    fig.addEventListener('click', toggle);
    fig.addEventListener('keydown', onKey(toggle));
  });
  document.addEventListener('keydown', function (e) {
    if (e.key !== 'Escape') { return; }
    document.querySelectorAll('figure.zoomed').forEach(function (fig) {
      fig.classList.remove('zoomed');
      fig.setAttribute('aria-expanded', 'false');
    });
  });
})();
"""
STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.2em 1.5em; color: #212529; line-height: 1.4; }
p, dl { max-width: 62em; }
.scroll { overflow-x: auto; max-width: 100%; margin: 0.8em 0 1.2em; border: 1px solid #dee2e6; }
table { border-collapse: separate; border-spacing: 0; font-size: 0.85em; }
th, td { border-bottom: 1px solid #dee2e6; padding: 4px 5px; text-align: right; vertical-align: top; }
td { white-space: nowrap; font-variant-numeric: tabular-nums; }
thead th { background: #f1f3f5; vertical-align: bottom; font-weight: 600; min-width: 4.2em; }
th[data-column] { cursor: pointer; user-select: none; }
th[data-column]:hover, th[data-column]:focus { background: #e7f5ff; outline: none; }
th .name { display: block; }
th .dir { display: block; font-weight: normal; font-size: 0.8em; color: #495057; white-space: nowrap; }
th .sort::after { content: " \\21C5"; color: #adb5bd; }
th[aria-sort=ascending] .sort::after { content: " \\25B2"; color: #1864ab; }
th[aria-sort=descending] .sort::after { content: " \\25BC"; color: #1864ab; }
th[aria-sort] { background: #d0ebff; }
tr.groups th { text-align: center; background: #e9ecef; border-left: 2px solid #fff; }
th:first-child, td:first-child {
  position: sticky; left: 0; z-index: 1; text-align: left; white-space: normal;
  min-width: 7em; max-width: 12em; background: #fff; border-right: 1px solid #ced4da;
}
thead th:first-child { background: #f1f3f5; z-index: 2; }
.ci { display: block; color: #495057; font-size: 0.85em; }
td.best { background: #e3fafc; }
td.best b { color: #0b7285; }
td.missing { color: #868e96; text-align: center; }
td.text { white-space: normal; text-align: left; min-width: 12em; }
.plots { display: grid; grid-template-columns: repeat(auto-fill, minmax(min(100%, 600px), 1fr)); gap: 1em; }
figure.plot { margin: 0; cursor: zoom-in; }
figure.plot img { width: 100%; height: auto; border: 1px solid #e9ecef; }
figure.plot figcaption { font-size: 0.8em; color: #495057; }
figure.plot.zoomed {
  position: fixed; inset: 0; z-index: 10; overflow: auto; padding: 1em;
  background: rgba(255, 255, 255, 0.97); cursor: zoom-out;
}
figure.plot.zoomed img { width: auto; max-width: none; }
dt { font-weight: 600; margin-top: 0.6em; }
dt .dir { font-weight: normal; color: #495057; }
dd { margin-left: 1.5em; }
code { font-size: 0.9em; }
@media (max-width: 700px) {
  body { margin: 0.8em; }
  th:first-child, td:first-child { min-width: 6em; max-width: 8em; }
}
"""


def _esc(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _th(column: int, name: str, definition: Definition | None = None) -> str:
    """A sortable header of the column at index ``column``: its name, better direction and definition."""
    attrs = f' data-column="{column}" tabindex="0" scope="col"'
    badge = ""
    if definition is not None:
        attrs += f' data-metric="{_esc(definition.metric)}" title="{_esc(definition.plain_text())}"'
        badge = f'<span class="dir">{DIRECTION_BADGE[definition.better]}</span>'
        if definition.higher_is_better is not False:
            attrs += ' data-first="descending"'  # the first click puts the best (or largest) first
    name_html = _esc(name).replace("/", "/<wbr>")  # "candidates/item" may wrap after its slash
    sort = '<span class="sort" aria-hidden="true"></span>'
    return f'<th{attrs}><span class="name">{name_html}{sort}</span>{badge}</th>'


def _td(value: Any, text: str, best: bool = False, extra: str = "", title: str = "") -> str:
    """A cell: its sort key in ``data-v`` (empty when missing), its text, bold when the best of its column."""
    if _missing(value):
        return f'<td data-v="" class="missing">{MISSING}</td>'
    attrs = (' class="best"' if best else "") + (f' title="{_esc(title)}"' if title else "")
    shown = f"<b>{_esc(text)}</b>" if best else _esc(text)
    return f'<td data-v="{_esc(value)}"{attrs}>{shown}{extra}</td>'


def _table(head: str, rows: list[str], groups: str = "") -> str:
    body = "\n".join(f"<tr>{r}</tr>" for r in rows)
    return (
        f'<div class="scroll"><table class="sortable"><thead>{groups}<tr>{head}</tr></thead>'
        f"<tbody>\n{body}\n</tbody></table></div>"
    )


def _delta_title(cell: Any, labels: dict[str, str]) -> str:
    """Both deltas of a cell, each named (``–`` where that delta has no value); empty for the base."""
    lines = []
    for tag, what in (("base", "base"), ("prev", "the checkpoint it was trained from")):
        other = cell.get(f"vs_{tag}")
        if _missing(other) or not other:
            continue
        value = cell.get(f"delta_{tag}")
        star = "*" if cell.get(f"significant_{tag}") else ""
        text = MISSING if _missing(value) else f"{value:+.3f}{star}"
        name = "base" if tag == "base" else f"{labels.get(other, other)} ({what})"
        lines.append(f"Δ vs {name}: {text}")
    if len(lines) == 2 and cell.get("vs_prev") == "base":
        lines = [lines[0].replace("vs base:", "vs base (also the checkpoint it was trained from):")]
    return "\n".join(lines)


def _results_table(results: RunResults, frame: Any) -> str:
    """Checkpoints x (benchmarks, pooled metrics): value and CI, best per column, deltas as tooltips."""
    labels, cols, cells = wide(frame, results.run)
    names = {c.label: c.name for c in results.checkpoints}
    by_name = {c.name: c.label for c in results.checkpoints}
    groups = "".join(
        f'<th scope="colgroup" colspan="{len(c)}">{_esc(g)}</th>' for g, c in groups_of(frame, results.run)
    )
    metrics = {c: next(r["metric"] for (_, col), r in cells.items() if col == c) for c in cols}
    head = _th(0, "checkpoint") + "".join(_th(k, c, by_metric(metrics[c])) for k, c in enumerate(cols, 1))
    rows = []
    for index, label in enumerate(labels):
        tds = [f'<td data-v="{index}" title="{_esc(names.get(label, label))}">{_esc(label)}</td>']
        for col in cols:
            cell = cells.get((label, col))
            if not has_value(cell):
                tds.append(_td(None, ""))
                continue
            ci = ""
            if not _missing(cell["ci_low"]):
                ci = f'<span class="ci">[{fmt(cell["ci_low"], 2)}, {fmt(cell["ci_high"], 2)}]</span>'
            title = _delta_title(cell, by_name)
            tds.append(_td(cell["value"], fmt(cell["value"]), bool(cell["best"]), ci, title))
        rows.append("".join(tds))
    return _table(head, rows, f'<tr class="groups"><th></th>{groups}</tr>')


def _best_values(frame: Any, defs: dict[str, Definition | None]) -> dict[str, float]:
    """Column -> its best value (`best_value`: the same rule as the main table's bold)."""
    found = {c: best_value(list(frame[c]), d.higher_is_better if d else None) for c, d in defs.items()}
    return {c: v for c, v in found.items() if v is not None}


def _trajectory_table(results: RunResults, frame: Any) -> str:
    """Iteration x pooled metrics and calibration figures, best per column (where one is better) in bold."""
    traj = trajectory_frame(results, frame)
    pooled = dict(zip(frame["column"], frame["metric"]))
    defs = {c: by_column(c) or by_metric(pooled.get(c, "")) for c in traj.columns[1:]}
    best = _best_values(traj, defs)
    integers = {
        k
        for figures in results.calibration.values()
        for k, v in figures.items()
        if all(isinstance(f.get(k, 0), int) for f in results.calibration.values())
    }
    head = _th(0, traj.columns[0]) + "".join(_th(k, c, defs[c]) for k, c in enumerate(traj.columns[1:], 1))
    rows = []
    for index, (_, row) in enumerate(traj.iterrows()):
        tds = [f'<td data-v="{index}">{_esc(row.iloc[0])}</td>']
        for col in traj.columns[1:]:
            value = row[col]
            text = "" if _missing(value) else (f"{value:.0f}" if col in integers else fmt(value))
            tds.append(_td(value, text, col in best and value == best[col]))
        rows.append("".join(tds))
    return _table(head, rows)


def _comparison_table(comparisons: Any) -> str:
    """One row per (run, a vs b), a column per metric: delta, its 95% CI, p and MDE."""
    cols = list(dict.fromkeys(comparisons["column"]))
    metric = dict(zip(comparisons["column"], comparisons["metric"]))
    head = (
        _th(0, "comparison")
        + _th(1, "run")
        + "".join(_th(k, c, by_metric(metric[c])) for k, c in enumerate(cols, 2))
        + _th(len(cols) + 2, "items")
    )
    rows = []
    for (run, label), part in comparisons.groupby(["run", "comparison"], sort=False):
        by_col = {r["column"]: r for _, r in part.iterrows()}
        tds = [f'<td data-v="{_esc(label)}">{_esc(label)}</td>', f'<td data-v="{_esc(run)}">{_esc(run)}</td>']
        for col in cols:
            r = by_col.get(col)
            if r is None or _missing(r["delta"]):
                tds.append(_td(None, ""))
                continue
            star = "*" if r["significant"] else ""
            extra = ""
            if not _missing(r["ci_low"]):
                mde = "" if _missing(r.get("mde")) else f" · MDE {r['mde']:.3f}"
                extra = (
                    f'<span class="ci">[{r["ci_low"]:+.3f}, {r["ci_high"]:+.3f}]</span>'
                    f'<span class="ci">p={r["p"]:.2f}{mde}</span>'
                )
            tds.append(_td(r["delta"], f"{r['delta']:+.3f}{star}", extra=extra))
        items = part["items"].iloc[0]
        tds.append(_td(items, str(items)))
        rows.append("".join(tds))
    return _table(head, rows)


def _reference_table(reference: list[dict[str, Any]]) -> str:
    columns = reference_columns(reference)
    head = _th(0, "model") + "".join(_th(k, h) for k, h in enumerate(columns.values(), 1))
    head += _th(len(columns) + 1, "source")
    rows = []
    for r in reference:
        tds = [f'<td data-v="{_esc(r["model"])}">{_esc(r["model"])}</td>']
        tds += [_td(r["values"].get(b), fmt(r["values"].get(b))) for b in columns]
        tds.append(f'<td data-v="{_esc(r["table"])}" class="text">{_esc(r["table"])}</td>')
        rows.append("".join(tds))
    return _table(head, rows)


def _definitions() -> str:
    """Every leaderboard column's definition and better direction (from the one definitions file)."""
    items = []
    for d in definitions():
        if d.column == "–":
            continue
        direction = {"higher": "higher is better", "lower": "lower is better", "none": "no better direction"}
        items.append(
            f'<dt id="{d.anchor}">{_esc(d.column)} <span class="dir">({direction[d.better]}; '
            f"<code>{_esc(d.metric)}</code>)</span></dt><dd>{d.html_text()}</dd>"
        )
    return '<h2 id="definitions">Metric definitions</h2><dl>' + "".join(items) + "</dl>"


def _plots(results: RunResults, plots: list[Path]) -> str:
    figures = []
    for path in plots:
        if path.suffix != ".png" or not path.stem.startswith(f"{results.run}_"):
            continue
        data = base64.b64encode(path.read_bytes()).decode()
        figures.append(
            f'<figure class="plot" tabindex="0" role="button" aria-expanded="false">'
            f'<img alt="{_esc(path.stem)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{_esc(path.stem)}: click to open at full size (again or Esc to close)</figcaption>"
            "</figure>"
        )
    return f'<div class="plots">{"".join(figures)}</div>' if figures else ""


LEGEND = (
    "Each cell: the value, its 95% bootstrap CI below it. Under each header: which values are better "
    "(↑ higher, ↓ lower, or no direction); bold: the best of its column in that direction. "
    f"{MISSING}: no value (an empty denominator, or not evaluated). Hover a cell for its deltas vs the "
    "base and vs the checkpoint it was trained from (* = paired-bootstrap 95% CI excludes 0). Click a "
    "column header to sort (again to reverse; empty cells stay last; the checkpoint column restores the "
    "run's order). Tables scroll sideways within their frame. Every metric is defined "
    '<a href="#definitions">below</a>.'
)


def to_html(
    runs: list[RunResults],
    frame: Any,
    plots: list[Path],
    reference: list[dict[str, Any]] | None = None,
    provenance: str = "",
    comparisons: Any = None,
) -> str:
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>srcal leaderboard</title><style>{STYLE}</style></head><body><h1>srcal leaderboard</h1>",
        f"<p>{_esc(provenance)}</p>",
        f"<p>{LEGEND}</p>",
    ]
    for results in runs:
        parts.append(f"<h2>{_esc(results.run)}</h2>")
        parts.append(_results_table(results, frame))
        if note := reader_note(results):
            parts.append(f"<p>{_esc(note)}</p>")
        if not trajectory_frame(results, frame).empty:
            parts.append("<h3>Per-iteration trajectory</h3>" + _trajectory_table(results, frame))
        parts.append(_plots(results, plots))
    if comparisons is not None and not comparisons.empty:
        parts.append(
            "<h2>Paired comparisons</h2><p>Pooled over each run's benchmarks, same items: delta (first minus "
            "second) with its 95% CI, paired-bootstrap p (* = CI excludes 0), minimum detectable effect "
            "(MDE: 80% power, 5% level; a CI holding 0 with a large MDE means too few items, not no "
            "effect).</p>" + _comparison_table(comparisons)
        )
    if reference:
        parts.append(
            "<h2>Published reference rows (source: paper; not comparable with reproduced rows)</h2>"
            + _reference_table(reference)
        )
    parts.append(_definitions())
    parts.append(f"<script>{SCRIPT}</script></body></html>")
    return "\n".join(parts)
