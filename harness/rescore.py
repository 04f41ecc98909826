"""Re-score saved responses offline: ``srcal score --benchmark NAME RESPONSES.jsonl``.

Input lines, either srcal's format::

    {"id": ..., "response": "...", "doc": {<the benchmark's own fields>}}

or an lmms-eval per-sample log (``<timestamp>_samples_<task>.jsonl``, written with
``--log_samples``): lmms-eval 0.7.3 drops the document from that log, so its lines
(``doc_id``, ``filtered_resps``, ``target``, ``input``) are joined with the benchmark's
documents loaded from ``docs_source`` (a built dataset for built-in suites, a local copy
or hub id for public ones); each line's ``target`` is checked against the document's
answer so a log from another split or order is refused rather than mis-scored.

Output lines: the input plus ``final_answer``, ``parse_status``, ``correct`` and the
benchmark's own per-sample fields; with ``consistency`` also ``implied_answer``,
``implied_status`` and ``consistent`` (see :mod:`harness.consistency`). Malformed lines
are all reported with their line number and nothing is written, so no later step can
trust a partial file.
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


def is_lmms_sample(record: dict[str, Any]) -> bool:
    return "doc_id" in record and "filtered_resps" in record and "doc" not in record


def lmms_response(record: dict[str, Any]) -> str | None:
    value = record.get("filtered_resps")
    while isinstance(value, list):
        value = value[0] if value else None
    return value if value is None else str(value)


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
            if is_lmms_sample(record):
                if not isinstance(record["doc_id"], int):
                    problems.append(f"{path}:{lineno}: field 'doc_id': expected an integer")
                records.append((lineno, record))
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


def attach_docs(
    spec: Any, path: str | Path, records: list[tuple[int, dict[str, Any]]], docs_source: str | None
) -> list[tuple[int, dict[str, Any]]]:
    """Give lmms-eval log lines their document (by ``doc_id``) and srcal's record shape."""
    if not any(is_lmms_sample(r) for _, r in records):
        return records
    if docs_source is None and spec.dataset is None:
        raise ResponsesFileError(
            [
                f"{path}: an lmms-eval samples log holds no documents; give --docs (the built dataset directory)"
            ]
        )
    raws = spec.load(docs_source)
    out, problems = [], []
    for lineno, record in records:
        if not is_lmms_sample(record):
            out.append((lineno, record))
            continue
        doc_id = record["doc_id"]
        if not 0 <= doc_id < len(raws):
            problems.append(f"{path}:{lineno}: field 'doc_id': {doc_id} is not a document of {spec.name}")
            continue
        raw = raws[doc_id]
        doc = spec.to_doc(raw)
        target = record.get("target")
        if target is not None and spec.name in _builtin() and str(target) != str(doc.answer):
            problems.append(
                f"{path}:{lineno}: field 'target': {target!r} is not document {doc_id}'s answer "
                f"{doc.answer!r} (a log of another split, order or limit?)"
            )
            continue
        out.append((lineno, {"id": doc.id, "doc_id": doc_id, "response": lmms_response(record), "doc": raw}))
    if problems:
        raise ResponsesFileError(problems)
    return out


def _builtin() -> tuple[str, ...]:
    from benchmarks.registry import BUILTIN_SUITES

    return BUILTIN_SUITES


def rescore(
    benchmark: str,
    path: str | Path,
    consistency: bool = False,
    reader: Any = None,
    docs_source: str | None = None,
    bootstrap: int = 1000,
) -> RescoreResult:
    """Score every response in ``path`` with ``benchmark``'s parser and official rule.

    With ``consistency``, ``reader`` (a :mod:`harness.implied_answer` reader or ``ReaderConfig``)
    names the answer each rationale implies, and the summary adds the consistency metrics.
    """
    from benchmarks.registry import BENCHMARKS

    spec = BENCHMARKS.get(benchmark)
    records = attach_docs(spec, path, read_responses(path), docs_source)
    rows: list[dict[str, Any]] = []
    docs: list[Any] = []
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
        docs.append(doc)
    if problems:
        raise ResponsesFileError(problems)
    summary = spec.aggregate(rows)
    if consistency:
        from benchmarks.metrics import consistency_metrics
        from harness.consistency import consistency_fields, read_query
        from harness.implied_answer import ReaderConfig, make_reader

        if reader is None:
            reader = ReaderConfig()
        if isinstance(reader, ReaderConfig):
            reader = make_reader(reader)
        implied = reader.read([read_query(d, r) for d, r in zip(docs, rows)])
        for row, doc, imp in zip(rows, docs, implied):
            row.update(consistency_fields(spec, doc, row, imp))
        from harness.implied_answer.validity import measured_validity

        summary = {
            **summary,
            **consistency_metrics(rows, bootstrap),
            "reader": reader.identity(),
            "reader_validity": measured_validity(reader.identity()),
        }
    return RescoreResult(rows=rows, summary=summary)
