"""The results store: an SQLite index (WAL mode) over a run's ``metrics.json`` files.

The JSON files under ``<run_dir>/eval/`` stay the source of truth; the store indexes
every (checkpoint, benchmark, metric) with its CI, sample count and provenance so that
leaderboards and users can query a run (or several) with SQL or pandas::

    from harness.store import ResultsStore
    df = ResultsStore("runs/tiny/results.sqlite").frame()      # one row per metric value

``refresh(run_dir)`` rebuilds a run's rows from its files, so a store that was deleted
or is out of date is recreated exactly.
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

from benchmarks.metrics import RATIOS

STORE_NAME = "results.sqlite"
SCHEMA = """
CREATE TABLE IF NOT EXISTS checkpoints (
    run TEXT NOT NULL,
    checkpoint TEXT NOT NULL,
    method TEXT,
    iteration INTEGER,
    model TEXT,
    adapter TEXT,
    model_hash TEXT,
    adapter_hash TEXT,
    PRIMARY KEY (run, checkpoint)
);
CREATE TABLE IF NOT EXISTS results (
    run TEXT NOT NULL,
    checkpoint TEXT NOT NULL,
    benchmark TEXT NOT NULL,
    category TEXT,
    metric TEXT NOT NULL,
    value REAL,
    ci_low REAL,
    ci_high REAL,
    n INTEGER,
    samples_sha256 TEXT,
    metrics_path TEXT,
    provenance TEXT,
    indexed_at TEXT,
    PRIMARY KEY (run, checkpoint, benchmark, metric)
);
CREATE INDEX IF NOT EXISTS results_by_metric ON results (metric, benchmark);
"""
COUNT_METRICS = (
    "decided",
    "lucky_answers",
    "faithful_errors",
    "parse_failures",
    "claims_checked",
    "no_claim_responses",
)


class ResultsStore:
    """One SQLite file (WAL journal: readers do not block the writer)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(self.path, timeout=30)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.executescript(SCHEMA)

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> ResultsStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def journal_mode(self) -> str:
        return self.conn.execute("PRAGMA journal_mode").fetchone()[0]

    def add_checkpoint(self, run: str, checkpoint: str, info: dict[str, Any]) -> None:
        with self.conn:
            self.conn.execute(
                "INSERT OR REPLACE INTO checkpoints VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    run,
                    checkpoint,
                    info.get("method"),
                    info.get("iteration"),
                    info.get("model"),
                    info.get("adapter"),
                    info.get("model_hash"),
                    info.get("adapter_hash"),
                ),
            )

    def add_metrics(self, run: str, checkpoint: str, metrics: dict[str, Any], metrics_path: str = "") -> int:
        """Index one ``metrics.json``; returns the number of metric rows written."""
        rows = list(metric_rows(metrics))
        prov = metrics.get("provenance", {})
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        kept = ("checkpoint", "generation", "data", "versions", "fingerprint", "reader")
        provenance = json.dumps({k: prov.get(k) for k in kept}, sort_keys=True)
        with self.conn:
            self.conn.executemany(
                "INSERT OR REPLACE INTO results VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        run,
                        checkpoint,
                        metrics["benchmark"],
                        metrics.get("category"),
                        name,
                        value,
                        lo,
                        hi,
                        metrics.get("n"),
                        prov.get("samples_sha256"),
                        metrics_path,
                        provenance,
                        stamp,
                    )
                    for name, value, lo, hi in rows
                ],
            )
        return len(rows)

    def refresh(
        self, run_dir: str | Path, run: str | None = None, checkpoints: dict[str, dict] | None = None
    ) -> int:
        """Re-index every ``eval/<checkpoint>/<benchmark>/metrics.json`` of ``run_dir``."""
        run_dir = Path(run_dir)
        run = run or run_dir.name
        count = 0
        with self.conn:
            self.conn.execute("DELETE FROM results WHERE run = ?", (run,))
        for name, info in (checkpoints or {}).items():
            self.add_checkpoint(run, name, info)
        for path in sorted(run_dir.glob("eval/*/*/metrics.json")):
            metrics = json.loads(path.read_text())
            count += self.add_metrics(run, path.parent.parent.name, metrics, str(path.relative_to(run_dir)))
        return count

    def frame(self, sql: str = "SELECT * FROM results", params: tuple = ()) -> Any:
        """A pandas DataFrame of a query (default: every metric row)."""
        import pandas as pd

        return pd.read_sql_query(sql, self.conn, params=params)

    def value(self, run: str, checkpoint: str, benchmark: str, metric: str) -> float | None:
        row = self.conn.execute(
            "SELECT value FROM results WHERE run=? AND checkpoint=? AND benchmark=? AND metric=?",
            (run, checkpoint, benchmark, metric),
        ).fetchone()
        return None if row is None else row[0]


def metric_rows(metrics: dict[str, Any]) -> list[tuple[str, float | None, float | None, float | None]]:
    """(metric, value, ci_low, ci_high) rows of a metrics dict: ratios with CIs, counts, 2x2 cells, official."""
    ci = metrics.get("ci95", {})
    rows: list[tuple[str, float | None, float | None, float | None]] = []
    for name in RATIOS:
        lo, hi = ci.get(name, (None, None))
        rows.append((name, metrics.get(name), lo, hi))
    for name in COUNT_METRICS:
        if name in metrics:
            rows.append((name, float(metrics[name]), None, None))
    for cell, count in metrics.get("table", {}).items():
        rows.append((f"table.{cell}", float(count), None, None))
    for name, value in metrics.get("official", {}).items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            rows.append((f"official.{name}", float(value), None, None))
    return rows


def ensure_store(run_dir: str | Path) -> Path:
    """The run's store, rebuilt from its JSON files when missing or empty (before a leaderboard reads it)."""
    run_dir = Path(run_dir)
    index_path = run_dir / "eval" / "index.json"
    if not index_path.is_file():
        return run_dir / STORE_NAME  # the leaderboard names what is missing
    index = json.loads(index_path.read_text())
    path = run_dir / index.get("store", STORE_NAME)
    with ResultsStore(path) as store:
        if store.frame("SELECT metric FROM results WHERE run = ? LIMIT 1", (index["run"],)).empty:
            store.refresh(run_dir, index["run"], index.get("checkpoints"))
    return path
