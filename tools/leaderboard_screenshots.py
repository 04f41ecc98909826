"""Screenshots of ``leaderboard.html`` as a reader sees it, in headless Chromium, at 1,400 px and 500 px.

    python -m tools.leaderboard_screenshots --demo --out /tmp/shots
    python -m tools.leaderboard_screenshots RUN_DIR/leaderboard.html --out /tmp/shots [--widths 1400,500]

``--demo`` first writes a page from a hand-made run shaped like the committed tiny run (seven
built-in suites in three groups, base, sft-only, SRC iter 1-3, outcome-DPO, calibration figures,
paired comparisons, published rows; made-up numbers), so the page can be looked at without an
evaluated run. Per page and width it writes ``<page>_<width>.png`` (the whole page),
``<page>_<width>_top.png`` (the first screen, 900 px tall) and ``<page>_<width>.json``: what the
browser measured (viewport and page widths, i.e. whether the page scrolls sideways; each table's
width and its scroll container's; whether the first column is sticky; plot widths, and a plot's
width once clicked open; a column's cells after one and two clicks on the coverage and the
consistency headers, and whether a click on the group row reorders anything). Chromium runs
offline and throw-away, the equivalent of::

    chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \\
        --disable-background-networking --disable-component-update --disable-sync \\
        --user-data-dir=$(mktemp -d) --window-size=1400,900 --screenshot=out.png file:///.../leaderboard.html

(Debian: ``apt-get install -y chromium``.)
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
WIDTHS = (1400, 500)
TOP_HEIGHT = 900
MEASURE = """
<script>
window.addEventListener('load', function () {
  var out = {viewport: window.innerWidth, page_width: document.documentElement.scrollWidth,
             page_height: document.documentElement.scrollHeight, tables: [], plots: []};
  document.querySelectorAll('.scroll').forEach(function (box) {
    var table = box.querySelector('table'), cell = table.tBodies[0].rows[0].cells[0];
    out.tables.push({width: table.offsetWidth, container: box.clientWidth,
                     scrolls: table.offsetWidth > box.clientWidth,
                     first_column: getComputedStyle(cell).position});
  });
  document.querySelectorAll('figure.plot img').forEach(function (img) {
    out.plots.push({shown: img.clientWidth, natural: img.naturalWidth});
  });
  var fig = document.querySelector('figure.plot');
  if (fig) { fig.click(); out.plot_clicked = fig.querySelector('img').clientWidth; fig.click(); }
  var table = document.querySelector('table.sortable');
  function column(name) {
    var th = table.querySelector('th[data-metric="' + name + '"]'), k = Number(th.dataset.column);
    return Array.from(table.tBodies[0].rows).map(function (r) { return r.cells[k].dataset.v; });
  }
  ['consistency_coverage', 'consistency_rate'].forEach(function (name) {
    var th = table.querySelector('th[data-metric="' + name + '"]');
    if (!th) { return; }
    out.sorted = out.sorted || {};
    th.click();
    var first = {order: column(name), aria_sort: th.getAttribute('aria-sort')};
    th.click();
    out.sorted[name] = [first, {order: column(name), aria_sort: th.getAttribute('aria-sort')}];
  });
  var before = Array.from(table.tBodies[0].rows).map(function (r) { return r.cells[0].textContent; });
  table.querySelector('tr.groups th[colspan]').click();
  var after = Array.from(table.tBodies[0].rows).map(function (r) { return r.cells[0].textContent; });
  out.group_row_click_changed_order = before.join('|') !== after.join('|');
  var pre = document.createElement('pre');
  pre.id = 'srcal-measure';
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>
"""


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if path := shutil.which(name):
            return path
    raise SystemExit("no chromium on PATH (Debian: apt-get install -y chromium)")


def _run(browser: str, args: list[str], timeout: int = 120) -> str:
    with tempfile.TemporaryDirectory(prefix="srcal-chromium-") as profile:
        cmd = [browser, *FLAGS, f"--user-data-dir={profile}", *args]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: exit {done.returncode}\n{done.stderr[-2000:]}")
    return done.stdout


def measure(browser: str, page: Path, width: int) -> dict[str, Any]:
    """What the browser lays out at ``width`` (a copy of the page with a measuring script appended)."""
    with tempfile.TemporaryDirectory(prefix="srcal-measure-") as tmp:
        copy = Path(tmp) / page.name
        copy.write_text(page.read_text(encoding="utf-8").replace("</body>", MEASURE + "</body>"))
        dom = _run(
            browser,
            [
                f"--window-size={width},{TOP_HEIGHT}",
                "--virtual-time-budget=5000",
                "--dump-dom",
                copy.as_uri(),
            ],
        )
    found = re.search(r'<pre id="srcal-measure">(.*?)</pre>', dom, re.S)
    if not found:
        raise RuntimeError(f"{page}: the measuring script left no result")
    return json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))


def screenshots(page: Path, out: Path, widths: tuple[int, ...] = WIDTHS) -> list[Path]:
    """The whole page and its first screen at each width, with the browser's measurements."""
    browser = chromium()
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for width in widths:
        figures = measure(browser, page, width)
        stem = out / f"{page.stem}_{width}"
        stem.with_suffix(".json").write_text(json.dumps(figures, indent=1) + "\n")
        for path, height in (
            (Path(f"{stem}.png"), figures["page_height"]),
            (Path(f"{stem}_top.png"), TOP_HEIGHT),
        ):
            _run(
                browser,
                [f"--window-size={width},{min(height, 16000)}", f"--screenshot={path}", page.as_uri()],
            )
            written.append(path)
        written.append(stem.with_suffix(".json"))
    return written


def demo_run(samples_per_suite: int = 30, seed: int = 0) -> Any:
    """A hand-made run shaped like the tiny run (made-up outcomes; base answers without rationales)."""
    import random

    import pandas as pd

    from leaderboards.results import Checkpoint, RunResults

    suites = {
        "easyvqa": "perception",
        "digits": "perception",
        "scenes": "perception",
        "charts": "chart",
        "geometry": "math_science",
        "arithmetic": "math_science",
        "science": "math_science",
    }
    ckpts = [
        Checkpoint("tiny", "base", "base", None, None),
        Checkpoint("tiny", "iter_0", "sft-only", 0, "base"),
    ]
    ckpts += [Checkpoint("tiny", f"iter_{k}", "src", k, f"iter_{k - 1}") for k in (1, 2, 3)]
    ckpts.append(Checkpoint("tiny", "outcome-dpo", "outcome-dpo", 3, "iter_0"))
    rng = random.Random(seed)
    samples, metrics = {}, []
    for k, ckpt in enumerate(ckpts):
        for bench in suites:
            rows = []
            for i in range(samples_per_suite):
                parsed = k == 0 or rng.random() > 0.15
                correct = parsed and rng.random() < 0.2 + 0.02 * k
                decided = k > 0 and parsed and rng.random() < 0.85 + 0.01 * k
                checked = rng.randint(0, 3) if k > 0 else None
                rows.append(
                    {
                        "id": f"{bench}-{i}",
                        "correct": correct,
                        "consistent": (rng.random() < 0.68 + 0.015 * k) if decided else None,
                        "parse_status": "ok" if parsed else "invalid",
                        "rationale": "r" if k > 0 else "",
                        "claims_checked": checked,
                        "claims_true": rng.randint(0, checked) if checked else 0,
                    }
                )
            samples[(ckpt.name, bench)] = rows
            acc = sum(r["correct"] for r in rows) / len(rows)
            half = 1.96 * (acc * (1 - acc) / len(rows)) ** 0.5
            metrics.append(
                {
                    "checkpoint": ckpt.name,
                    "benchmark": bench,
                    "metric": "accuracy",
                    "value": acc,
                    "ci_low": max(0.0, acc - half),
                    "ci_high": min(1.0, acc + half),
                    "n": len(rows),
                }
            )
    calibration = {
        f"iter_{k}": {
            "candidates/item": 3.98,
            "candidates correct": 0.15 + 0.03 * k,
            "candidate parse failures": 0.14 - 0.02 * k,
            "R-Scorer agreement (facts)": 0.18 + 0.02 * k,
            "decisive agreement": 0.34 + 0.05 * k,
            "tie mass": 0.22 - 0.01 * k,
            "pairs kept": 6 + 2 * k,
            "DPO reward acc. (training mean)": 0.83 - 0.03 * k,
        }
        for k in (1, 2, 3)
    }
    readers = {c.name: "choice" for c in ckpts}
    frame = pd.DataFrame.from_records(metrics)
    return RunResults("tiny", Path("."), ckpts, frame, list(suites), suites, samples, calibration, readers)


def write_demo_page(out: Path, bootstrap: int = 200, plots: bool = True) -> Path:
    """``out/leaderboard.html`` of :func:`demo_run`, with plots, comparisons and published rows."""
    from leaderboards.html import to_html
    from leaderboards.plots import all_plots
    from leaderboards.results import load_reference
    from leaderboards.tables import comparison_frame, leaderboard_frame

    runs = [demo_run()]
    frame = leaderboard_frame(runs, bootstrap, seed=0)
    paths = all_plots(runs, frame, out / "plots") if plots else []
    provenance = f"demo page (made-up outcomes, tiny-run shape); {bootstrap} bootstrap resamples, seed 0"
    page = to_html(runs, frame, paths, load_reference(), provenance, comparison_frame(runs, None, bootstrap))
    out.mkdir(parents=True, exist_ok=True)
    (out / "leaderboard.html").write_text(page, encoding="utf-8")
    return out / "leaderboard.html"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("pages", nargs="*", type=Path, help="leaderboard.html files")
    parser.add_argument("--demo", action="store_true", help="first write a demo page into OUT/demo")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--widths", default=",".join(map(str, WIDTHS)))
    args = parser.parse_args(argv)
    pages = list(args.pages) + ([write_demo_page(args.out / "demo")] if args.demo else [])
    if not pages:
        parser.error("give leaderboard.html files or --demo")
    widths = tuple(int(w) for w in args.widths.split(","))
    for page in pages:
        for path in screenshots(page.resolve(), args.out / page.parent.name, widths):
            print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
