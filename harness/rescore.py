"""Re-score saved responses offline: ``srcal score --benchmark NAME RESPONSES.jsonl``.

Input lines: ``{"id": ..., "response": "...", "doc": {<the benchmark's own fields>}}``.
Output lines: the input plus ``final_answer``, ``parse_status``, ``correct`` and the
benchmark's own per-sample fields. Malformed lines are all reported with their line
number and nothing is written, so no later step can trust a partial file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.records import RecordError


class ResponsesFileError(ValueError):
    """One or more malformed lines; ``problems`` lists ``file:line: message`` strings."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass
class RescoreResult:
    rows: list[dict[str, Any]]
    summary: dict[str, Any]


def read_responses(path: str | Path) -> list[tuple[int, dict[str, Any]]]:
    """(line number, record) pairs; raises ResponsesFileError listing every malformed line."""
    records: list[tuple[int, dict[str, Any]]] = []
    problems: list[str] = []
    with open(path, encoding="utf-8") as handle:
        for lineno, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                problems.append(f"{path}:{lineno}: invalid JSON ({exc.msg})")
                continue
            if not isinstance(record, dict):
                problems.append(f"{path}:{lineno}: expected a JSON object")
                continue
            for name, kinds in (("response", (str, type(None))), ("doc", (dict,))):
                if name not in record:
                    problems.append(f"{path}:{lineno}: field {name!r}: missing")
                elif not isinstance(record[name], kinds):
                    problems.append(
                        f"{path}:{lineno}: field {name!r}: wrong type {type(record[name]).__name__}"
                    )
            records.append((lineno, record))
    if problems:
        raise ResponsesFileError(problems)
    return records


def rescore(benchmark: str, path: str | Path) -> RescoreResult:
    """Score every response in ``path`` with ``benchmark``'s parser and official rule."""
    from benchmarks.registry import BENCHMARKS

    spec = BENCHMARKS.get(benchmark)
    records = read_responses(path)
    rows: list[dict[str, Any]] = []
    problems: list[str] = []
    for lineno, record in records:
        try:
            doc = spec.to_doc(record["doc"])
            scored = spec.score(record.get("response"), doc)
        except RecordError as exc:
            problems.append(f"{path}:{lineno}: doc: {exc}")
            continue
        row = {"id": record.get("id", doc.id), **record, **scored}
        rows.append(row)
    if problems:
        raise ResponsesFileError(problems)
    return RescoreResult(rows=rows, summary=spec.aggregate(rows))
