"""Leaderboard tables: checkpoints x benchmarks (grouped by category) + consistency metrics.

One long pandas frame (:func:`leaderboard_frame`) holds every cell: value, 95% CI, and
paired-bootstrap deltas against the base and against the checkpoint it was trained from
(``previous``: iter_k <- iter_{k-1}, iter_0 <- base, a baseline <- iter_0), with
significance (the delta's 95% CI excludes 0). Per-benchmark accuracies and their CIs come
from the results store; pooled columns (all built-in items, the consistency metrics) are
computed from the per-sample files with the same definitions (:mod:`benchmarks.metrics`).
Renderers: markdown, CSV, LaTeX (booktabs) and a static HTML page (:mod:`leaderboards.html`).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any

from benchmarks.metrics import RATIOS, consistency_metrics, minimum_detectable_effect, sample_columns
from leaderboards.definitions import higher_is_better
from leaderboards.results import CATEGORY_GROUPS, GROUP_ORDER, RunResults

POOLED = "*"
POOLED_COLUMNS = (
    ("overall", "accuracy (all)", "accuracy"),
    ("consistency", "consistency", "consistency_rate"),
    ("consistency", "coverage", "consistency_coverage"),
    ("consistency", "lucky answers", "lucky_answer_rate"),
    ("consistency", "faithful errors", "faithful_error_rate"),
    ("consistency", "claim accuracy", "claim_accuracy"),
    ("consistency", "claim coverage", "claim_coverage"),
    ("consistency", "parse failures", "parse_failure_rate"),
)


@dataclass
class Column:
    group: str
    name: str
    benchmark: str
    metric: str


def columns(results: RunResults) -> list[Column]:
    by_group: dict[str, list[str]] = {}
    for bench in results.benchmarks:
        group = CATEGORY_GROUPS.get(results.categories.get(bench, ""), results.categories.get(bench, "other"))
        by_group.setdefault(group, []).append(bench)
    cols = [
        Column(group, bench, bench, "accuracy")
        for group in sorted(by_group, key=lambda g: GROUP_ORDER.index(g) if g in GROUP_ORDER else 99)
        for bench in by_group[group]
    ]
    reader = shared_reader(results)
    named = {"consistency": f"consistency (reader: {reader})"} if reader else {}
    return cols + [Column(named.get(g, g), n, POOLED, m) for g, n, m in POOLED_COLUMNS]


def shared_reader(results: RunResults) -> str | None:
    """The reader that judged every checkpoint's consistency, if they all share one."""
    names = set(results.readers.values())
    return names.pop() if len(names) == 1 else None


def reader_note(results: RunResults) -> str:
    """A note naming each checkpoint's reader when they differ (their consistency is not comparable)."""
    if len(set(results.readers.values())) < 2:
        return ""
    by_reader: dict[str, list[str]] = {}
    for ckpt in results.checkpoints:
        if ckpt.name in results.readers:
            by_reader.setdefault(results.readers[ckpt.name], []).append(ckpt.label)
    listed = "; ".join(f"{name}: {', '.join(labels)}" for name, labels in by_reader.items())
    return f"Consistency read by different readers ({listed}): not comparable across readers."


def paired_delta(
    a: list[dict[str, Any]], b: list[dict[str, Any]], metric: str, samples: int, seed: int
) -> tuple[float | None, float | None, float | None, float | None, float | None]:
    """(delta a - b, 95% CI low, high, two-sided p, minimum detectable effect) of a ratio metric.

    Over the items both evaluated; the minimum detectable effect (80% power, 5% level) comes from
    the standard deviation of the paired-bootstrap deltas.
    """
    import numpy as np

    b_by_id = {r["id"]: r for r in b}
    pairs = [(r, b_by_id[r["id"]]) for r in a if r["id"] in b_by_id]
    if not pairs:
        return None, None, None, None, None
    num, den = RATIOS[metric]
    ca, cb = sample_columns([p[0] for p in pairs]), sample_columns([p[1] for p in pairs])
    na, da, nb, db = (np.asarray(x) for x in (ca[num], ca[den], cb[num], cb[den]))
    if da.sum() == 0 or db.sum() == 0:
        return None, None, None, None, None
    delta = na.sum() / da.sum() - nb.sum() / db.sum()
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(pairs), size=(samples, len(pairs)))
    with np.errstate(invalid="ignore", divide="ignore"):
        diffs = na[draws].sum(1) / da[draws].sum(1) - nb[draws].sum(1) / db[draws].sum(1)
    diffs = diffs[~np.isnan(diffs)]
    if not diffs.size:
        return float(delta), None, None, None, None
    lo, hi = np.quantile(diffs, [0.025, 0.975])
    p = min(1.0, 2 * min((diffs <= 0).mean(), (diffs >= 0).mean()))
    mde = minimum_detectable_effect(float(diffs.std(ddof=1))) if diffs.size > 1 else None
    return float(delta), float(lo), float(hi), float(p), mde


def leaderboard_frame(runs: list[RunResults], bootstrap: int = 1000, seed: int = 0) -> Any:
    """One row per (run, checkpoint, column): value, CI, deltas vs base and previous, best flag."""
    import pandas as pd

    records = []
    for results in runs:
        cols = columns(results)
        store = results.metrics.set_index(["checkpoint", "benchmark", "metric"])
        pooled = {
            c.name: consistency_metrics(results.rows(c.name), bootstrap, seed) for c in results.checkpoints
        }
        names = {c.name for c in results.checkpoints}
        for ckpt in results.checkpoints:
            for col in cols:
                if col.benchmark == POOLED:
                    m = pooled[ckpt.name]
                    value = m.get(col.metric)
                    lo, hi = m["ci95"].get(col.metric, (None, None))
                    n = m["n"]
                    mine = results.rows(ckpt.name)
                else:
                    key = (ckpt.name, col.benchmark, col.metric)
                    if key not in store.index:
                        continue
                    row = store.loc[key]
                    value, lo, hi, n = (
                        _num(row["value"]),
                        _num(row["ci_low"]),
                        _num(row["ci_high"]),
                        row["n"],
                    )
                    mine = results.rows(ckpt.name, [col.benchmark])
                record = {
                    "run": results.run,
                    "checkpoint": ckpt.name,
                    "label": ckpt.label,
                    "method": ckpt.method,
                    "iteration": ckpt.iteration,
                    "group": col.group,
                    "column": col.name,
                    "benchmark": col.benchmark,
                    "metric": col.metric,
                    "value": value,
                    "ci_low": lo,
                    "ci_high": hi,
                    "n": int(n) if n is not None else None,
                    "source": "reproduced",
                }
                for tag, other in (("base", "base"), ("prev", ckpt.previous)):
                    if other is None or other == ckpt.name or other not in names or ckpt.name == "base":
                        continue
                    theirs = results.rows(other, None if col.benchmark == POOLED else [col.benchmark])
                    d, dlo, dhi, p, _ = paired_delta(mine, theirs, col.metric, bootstrap, seed)
                    record.update(
                        {
                            f"delta_{tag}": d,
                            f"delta_{tag}_low": dlo,
                            f"delta_{tag}_high": dhi,
                            f"p_{tag}": p,
                            f"significant_{tag}": bool(dlo is not None and (dlo > 0 or dhi < 0)),
                            f"vs_{tag}": other,
                        }
                    )
                records.append(record)
    frame = pd.DataFrame.from_records(records)
    frame["best"] = False
    for _, part in frame.groupby(["run", "column"]):
        # direction from leaderboards/metric_definitions.md
        best = best_value(part["value"].tolist(), higher_is_better(part["metric"].iloc[0]))
        if best is not None:
            frame.loc[part.index[part["value"] == best], "best"] = True
    return frame


def best_value(values: list[Any], higher: bool | None) -> float | None:
    """The best of a column's numeric values in its direction (``higher``: True / False), or None when the
    metric has no better direction or every value ties (nothing to single out)."""
    real = [float(v) for v in values if isinstance(v, numbers.Real) and not math.isnan(float(v))]
    if higher is None or len(set(real)) < 2:
        return None
    return max(real) if higher else min(real)


COMPARED = ("accuracy", "consistency_rate", "claim_accuracy", "lucky_answer_rate", "faithful_error_rate")
"""Pooled metrics of the paired-comparison table."""


def default_comparisons(results: RunResults) -> list[tuple[str, str]]:
    """The last calibration iteration against sft-only (iter_0) and each baseline's last checkpoint."""
    iters = [c for c in results.checkpoints if c.name.startswith("iter_") and c.name != "iter_0"]
    if not iters:
        return []
    final = max(iters, key=lambda c: c.iteration or 0).name
    names = [c.name for c in results.checkpoints]
    others = (["iter_0"] if "iter_0" in names else []) + [
        n for n in names if n != "base" and not n.startswith("iter_")
    ]
    return [(final, other) for other in others]


def comparison_frame(
    runs: list[RunResults],
    comparisons: list[tuple[str, str]] | None = None,
    bootstrap: int = 1000,
    seed: int = 0,
) -> Any:
    """Paired comparisons ``a`` vs ``b`` pooled over each run's benchmarks (same items): delta, 95% CI, p.

    ``comparisons`` (checkpoint names) apply to every run that holds both checkpoints; by
    default each run compares its last iteration with sft-only and with each baseline.
    """
    import difflib

    import pandas as pd

    if comparisons:
        known = sorted({c.name for r in runs for c in r.checkpoints})
        for name in {n for pair in comparisons for n in pair}:
            if name not in known:
                close = difflib.get_close_matches(name, known, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise ValueError(f"--compare: no checkpoint {name!r} in the runs ({', '.join(known)}){hint}")
    names = {m: n for _, n, m in POOLED_COLUMNS}
    records = []
    for results in runs:
        labels = {c.name: c.label for c in results.checkpoints}
        for a, b in comparisons or default_comparisons(results):
            if a not in labels or b not in labels:
                continue
            mine, theirs = results.rows(a), results.rows(b)
            items = len({r["id"] for r in mine} & {r["id"] for r in theirs})
            for metric in COMPARED:
                d, lo, hi, p, mde = paired_delta(mine, theirs, metric, bootstrap, seed)
                records.append(
                    {
                        "run": results.run,
                        "checkpoint": a,
                        "vs": b,
                        "comparison": f"{labels[a]} vs {labels[b]}",
                        "column": names[metric],
                        "metric": metric,
                        "delta": d,
                        "ci_low": lo,
                        "ci_high": hi,
                        "p": p,
                        "significant": bool(lo is not None and (lo > 0 or hi < 0)),
                        "mde": mde,
                        "items": items,
                    }
                )
    return pd.DataFrame.from_records(records)


def comparison_text(row: Any) -> str:
    """``+0.014 [-0.020, +0.049] p=0.45 MDE 0.048`` (``*`` when the CI excludes 0).

    The minimum detectable effect (80% power, 5% level) says whether a CI that holds 0 means "no
    effect of that size" (MDE small) or "too few items to tell" (MDE large).
    """
    if row["delta"] is None or row["delta"] != row["delta"]:
        return "–"
    if row["ci_low"] is None or row["ci_low"] != row["ci_low"]:
        return f"{row['delta']:+.3f}"
    star = "*" if row["significant"] else ""
    text = f"{row['delta']:+.3f}{star} [{row['ci_low']:+.3f}, {row['ci_high']:+.3f}] p={row['p']:.2f}"
    mde = row.get("mde")
    return f"{text} MDE {mde:.3f}" if mde is not None and mde == mde else text


def comparison_rows(comparisons: Any) -> tuple[list[str], list[list[str]]]:
    """(header, rows) of the paired-comparison table: one row per (run, a vs b), a column per metric."""
    cols = list(dict.fromkeys(comparisons["column"]))
    rows = []
    for (run, label), part in comparisons.groupby(["run", "comparison"], sort=False):
        by_col = {r["column"]: comparison_text(r) for _, r in part.iterrows()}
        rows.append([run, label, *(by_col.get(c, "") for c in cols), str(part["items"].iloc[0])])
    return ["run", "comparison", *cols, "items"], rows


def _num(value: Any) -> float | None:
    import math

    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) else value


def trajectory_frame(results: RunResults, frame: Any) -> Any:
    """Iteration x metric for one run: pooled metrics of base, iter_0..K, plus calibration figures."""
    import pandas as pd

    part = frame[(frame.run == results.run) & (frame.benchmark == POOLED)]
    rows = []
    for ckpt in results.checkpoints:
        if not (ckpt.name == "base" or ckpt.name.startswith("iter_")):
            continue
        mine = part[part.checkpoint == ckpt.name].set_index("column")
        row: dict[str, Any] = {"checkpoint": ckpt.name}
        for _, name, _ in POOLED_COLUMNS:
            row[name] = mine["value"].get(name)
        row.update(results.calibration.get(ckpt.name, {}))
        rows.append(row)
    return pd.DataFrame.from_records(rows)


# ----------------------------------------------------------------------------- rendering helpers


def fmt(value: Any, digits: int = 3) -> str:
    return "" if value is None or value != value else f"{value:.{digits}f}"


def has_value(cell: Any) -> bool:
    """Whether a table cell holds a number (not missing, not NaN)."""
    return cell is not None and cell["value"] is not None and cell["value"] == cell["value"]


def md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    return [
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *("| " + " | ".join(r) + " |" for r in rows),
    ]


def cell_text(row: Any, ci: bool = True) -> str:
    if not has_value(row):
        return ""
    text = fmt(row["value"])
    if ci and row["ci_low"] is not None and row["ci_low"] == row["ci_low"]:
        text += f" [{fmt(row['ci_low'], 2)}, {fmt(row['ci_high'], 2)}]"
    return text


def delta_text(row: Any, tag: str) -> str:
    value = row.get(f"delta_{tag}")
    if value is None or value != value:
        return ""
    star = "*" if row.get(f"significant_{tag}") else ""
    return f"{value:+.3f}{star}"


def wide(frame: Any, run: str) -> tuple[list[str], list[str], dict[tuple[str, str], Any]]:
    """(checkpoint labels in order, column names in order, {(label, column): row})."""
    part = frame[frame.run == run]
    labels = list(dict.fromkeys(part["label"]))
    cols = list(dict.fromkeys(part["column"]))
    cells = {(r["label"], r["column"]): r for _, r in part.iterrows()}
    return labels, cols, cells


def groups_of(frame: Any, run: str) -> list[tuple[str, list[str]]]:
    part = frame[frame.run == run]
    out: list[tuple[str, list[str]]] = []
    for group, column in dict.fromkeys(zip(part["group"], part["column"])):
        if out and out[-1][0] == group:
            out[-1][1].append(column)
        else:
            out.append((group, [column]))
    return out


def to_markdown(
    runs: list[RunResults],
    frame: Any,
    reference: list[dict[str, Any]] | None = None,
    comparisons: Any = None,
) -> str:
    lines: list[str] = []
    for results in runs:
        labels, cols, cells = wide(frame, results.run)
        groups = groups_of(frame, results.run)
        lines += [f"## {results.run}", ""]
        lines.append("Column groups: " + "; ".join(f"**{g}**: {', '.join(c)}" for g, c in groups) + ".")
        lines.append("")
        values, deltas = [], []
        for label in labels:
            value_row, delta_row = [label], [label]
            for col in cols:
                cell = cells.get((label, col))
                text = cell_text(cell)
                if has_value(cell) and cell["best"]:
                    text = text.replace(fmt(cell["value"]), f"**{fmt(cell['value'])}**", 1)
                value_row.append(text)
                parts = [delta_text(cell, "base"), delta_text(cell, "prev")] if cell is not None else []
                delta_row.append(" / ".join(p or "–" for p in parts) if any(parts) else "")
            values.append(value_row)
            deltas.append(delta_row)
        lines += md_table(["checkpoint", *cols], values)
        if note := reader_note(results):
            lines += ["", note]
        lines += [
            "",
            "Deltas (vs base / vs the checkpoint it was trained from; * = paired-bootstrap 95% CI excludes 0):",
            "",
        ]
        lines += md_table(["checkpoint", *cols], deltas)
        traj = trajectory_frame(results, frame)
        if not traj.empty:
            lines += ["", f"Per-iteration trajectory ({results.run}):", ""]
            lines += md_table(list(traj.columns), [[_plain(v) for v in r.values] for _, r in traj.iterrows()])
        if results.scorer_curve:
            lines += ["", *scorer_curve_markdown(results.scorer_curve)]
        lines.append("")
    if comparisons is not None and not comparisons.empty:
        lines += [
            "## Paired comparisons",
            "",
            "Pooled over each run's benchmarks, on the items both checkpoints answered: delta [95% CI] and "
            "two-sided p of a paired bootstrap (* = CI excludes 0), and the minimum detectable effect (MDE: "
            "the smallest true difference this many items detect with 80% power at the 5% level; a CI "
            "holding 0 with a large MDE means too few items, not no effect).",
            "",
        ]
        lines += md_table(*comparison_rows(comparisons))
        lines.append("")
    if reference:
        lines += reference_markdown(reference)
    return "\n".join(lines)


CURVE_COLUMNS = {
    "step": "step",
    "pairs_seen": "labels seen",
    "decisive_agreement": "decisive agreement",
    "agreement": "agreement (with ties)",
    "nll": "NLL of the label",
}


def scorer_curve_markdown(curve: list[dict[str, Any]]) -> list[str]:
    """The learned R-Scorer's learning curve: held-out agreement with the fact judge as it trained."""
    lines = [
        "The learned R-Scorer's learning curve (held-out items; agreement with the fact judge's labels, "
        "decisive = labels that are not ties):",
        "",
    ]
    rows = [[_plain(point.get(key)) for key in CURVE_COLUMNS] for point in curve]
    return lines + md_table(list(CURVE_COLUMNS.values()), rows)


def _plain(value: Any) -> str:
    if isinstance(value, float):
        return fmt(value)
    return "" if value is None else str(value)


def reference_metric(row: dict[str, Any], bench: str) -> str:
    """What a published row's value on ``bench`` measures (``metrics`` overrides ``metric``)."""
    return (row.get("metrics") or {}).get(bench, row.get("metric", "accuracy"))


def reference_columns(reference: list[dict[str, Any]]) -> dict[str, str]:
    """Benchmark -> column header of the reference table: ``pope (f1)`` when not accuracy."""
    columns = {}
    for bench in dict.fromkeys(b for r in reference for b in r["values"]):
        metrics = sorted({reference_metric(r, bench) for r in reference if bench in r["values"]})
        columns[bench] = bench if metrics == ["accuracy"] else f"{bench} ({' / '.join(metrics)})"
    return columns


def reference_markdown(reference: list[dict[str, Any]]) -> list[str]:
    columns = reference_columns(reference)
    benches = list(columns)
    lines = ["## Published reference rows (source: paper; not comparable with reproduced rows)", ""]
    lines.append("| model | " + " | ".join(columns.values()) + " | source |")
    lines.append("|---|" + "---|" * (len(benches) + 1))
    for r in reference:
        values = " | ".join(fmt(r["values"].get(b)) for b in benches)
        lines.append(f"| {r['model']} | {values} | [{r['table']}]({r['source_url']}) |")
    return lines + [""]


def to_csv(frame: Any, reference: list[dict[str, Any]] | None = None, comparisons: Any = None) -> str:
    """Every cell in long form; paired comparisons (``source`` paired) and published rows (paper) appended."""
    import pandas as pd

    out = frame.copy()
    if comparisons is not None and not comparisons.empty:
        paired = comparisons.rename(columns={"delta": "value", "comparison": "label", "items": "n"})
        paired = paired.assign(benchmark=POOLED, source="paired")
        out = pd.concat([out, paired], ignore_index=True)
    if reference:
        extra = [
            {
                "run": "reference",
                "checkpoint": r["model"],
                "label": r["model"],
                "method": r.get("method", "published"),
                "column": bench,
                "benchmark": bench,
                "metric": reference_metric(r, bench),
                "value": value,
                "source": "paper",
                "citation": r["citation"],
                "source_url": r["source_url"],
            }
            for r in reference
            for bench, value in r["values"].items()
        ]
        out = pd.concat([out, pd.DataFrame.from_records(extra)], ignore_index=True)
    return out.to_csv(index=False)


def _tex(text: str) -> str:
    for a, b in (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("_", r"\_"), ("#", r"\#")):
        text = text.replace(a, b)
    return text


def to_latex(runs: list[RunResults], frame: Any) -> str:
    """booktabs tables (one per run), values with CIs, best per column in bold."""
    blocks = []
    for results in runs:
        labels, cols, cells = wide(frame, results.run)
        groups = groups_of(frame, results.run)
        spec = "l" + "c" * len(cols)
        head1 = (
            " & ".join([""] + [rf"\multicolumn{{{len(c)}}}{{c}}{{{_tex(g)}}}" for g, c in groups]) + r" \\"
        )
        rules, start = [], 2
        for _, c in groups:
            rules.append(rf"\cmidrule(lr){{{start}-{start + len(c) - 1}}}")
            start += len(c)
        head2 = " & ".join(["checkpoint"] + [_tex(c) for c in cols]) + r" \\"
        body = []
        for label in labels:
            row = [_tex(label)]
            for col in cols:
                cell = cells.get((label, col))
                if not has_value(cell):
                    row.append("--")
                    continue
                value = fmt(cell["value"])
                value = rf"\textbf{{{value}}}" if cell["best"] else value
                ci = (
                    rf" {{\scriptsize [{fmt(cell['ci_low'], 2)}, {fmt(cell['ci_high'], 2)}]}}"
                    if cell["ci_low"] is not None and cell["ci_low"] == cell["ci_low"]
                    else ""
                )
                star = r"$^{*}$" if cell.get("significant_base") else ""
                row.append(value + star + ci)
            body.append(" & ".join(row) + r" \\")
        blocks.append(
            "\n".join(
                [
                    r"% requires \usepackage{booktabs}",
                    r"\begin{table}[t]",
                    r"\centering",
                    r"\resizebox{\linewidth}{!}{%",
                    rf"\begin{{tabular}}{{{spec}}}",
                    r"\toprule",
                    head1,
                    " ".join(rules),
                    head2,
                    r"\midrule",
                    *body,
                    r"\bottomrule",
                    r"\end{tabular}}",
                    rf"\caption{{{_tex(results.run)}: accuracy per benchmark and pooled consistency metrics with "
                    r"95\% bootstrap CIs; bold: best per column; $^{*}$: differs from the base (paired bootstrap).}",
                    r"\end{table}",
                ]
            )
        )
    return "\n\n".join(blocks) + "\n"
