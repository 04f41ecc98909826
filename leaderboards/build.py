"""``srcal leaderboard``: tables and plots from evaluated runs, written atomically.

Outputs in ``out`` (default: the first run directory): ``leaderboard.md``, ``.csv``,
``.tex``, ``.html`` (as asked by ``formats``) and ``plots/*.png|svg``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from benchmarks.fileio import atomic_write_text, source_commit

FORMATS = ("md", "csv", "tex", "html")


def build_leaderboard(
    run_dirs: list[str | Path],
    out: str | Path | None = None,
    formats: tuple[str, ...] = FORMATS,
    with_reference: bool = False,
    bootstrap: int = 1000,
    seed: int = 0,
    comparisons: list[tuple[str, str]] | None = None,
) -> dict[str, Any]:
    """Write the leaderboard of ``run_dirs``; returns the paths written and the markdown text.

    Directories of runs with the same name are pieces of one run, merged (`merge_pieces`).

    ``comparisons``: (checkpoint, checkpoint) pairs for the paired-comparison table (default:
    each run's last iteration vs sft-only and vs each baseline).
    """
    from leaderboards.html import to_html
    from leaderboards.plots import all_plots
    from leaderboards.results import load_reference, load_run, merge_pieces
    from leaderboards.tables import comparison_frame, leaderboard_frame, to_csv, to_latex, to_markdown

    loaded = [load_run(d) for d in run_dirs]
    groups: dict[str, list[Any]] = {}
    for run in loaded:  # directories of one run's name are its pieces (srcal run --arms)
        groups.setdefault(run.run, []).append(run)
    runs = [merge_pieces(pieces) for pieces in groups.values()]
    out = Path(out) if out else Path(run_dirs[0])
    frame = leaderboard_frame(runs, bootstrap, seed)
    paired = comparison_frame(runs, comparisons, bootstrap, seed)
    reference = load_reference() if with_reference else None
    provenance = (
        f"srcal commit {source_commit()}, {time.strftime('%Y-%m-%d %H:%M %Z')}; runs: "
        + ", ".join(str(Path(d)) for d in run_dirs)
        + f"; {bootstrap} bootstrap resamples, seed {seed}"
    )
    written: dict[str, str] = {}
    plots = all_plots(runs, frame, out / "plots") if ("html" in formats or "md" in formats) else []
    markdown = f"# Leaderboard\n\n_{provenance}_\n\n" + to_markdown(runs, frame, reference, paired)
    if plots:
        markdown += (
            "\n" + "\n".join(f"![{p.stem}](plots/{p.name})" for p in plots if p.suffix == ".png") + "\n"
        )
    renderers = {
        "md": lambda: markdown,
        "csv": lambda: to_csv(frame, reference, paired),
        "tex": lambda: to_latex(runs, frame),
        "html": lambda: to_html(runs, frame, plots, reference, provenance, paired),
    }
    for fmt in formats:
        path = out / f"leaderboard.{fmt}"
        atomic_write_text(path, renderers[fmt]())
        written[fmt] = str(path)
    return {
        "written": written,
        "plots": [str(p) for p in plots],
        "markdown": markdown,
        "frame": frame,
        "comparisons": paired,
    }
