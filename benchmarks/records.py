"""Records that cross stage boundaries: versioned dataclasses written as JSONL.

``BenchmarkItem`` is one visual question with everything later stages need: the image
(by relative path and content hash), the question and its choices, the gold answer, the
structured *facts* a rationale can be checked against, and a gold rationale rendered
from those facts that ends with ``Answer: <answer>``.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ITEM_SCHEMA_VERSION = 1

CATEGORIES = ("perception", "chart", "math_science")
"""The paper's three data categories: perception & world knowledge, chart understanding,
math & science."""

SPLITS = ("base", "rft", "calib", "test")
"""``base`` trains the embedded base model, ``rft`` rationale fine-tuning, ``calib``
calibration, ``test`` evaluation. Disjoint in items and images."""

ANSWER_TYPES = ("multiple_choice", "yes_no", "integer", "float", "text")

LETTERS = "ABCDEFGHIJ"


class RecordError(ValueError):
    """A record that does not match its schema; names the field (and file/line when known)."""


@dataclass
class BenchmarkItem:
    """One visual question.

    Attributes:
        id: stable identifier, unique across all splits (``<suite>-<hash>``).
        suite: built-in suite or public benchmark the item belongs to.
        split: one of ``SPLITS`` (or the public benchmark's split name).
        category: one of ``CATEGORIES``.
        image: image path relative to the dataset directory (never absolute, never ``..``).
        image_sha256: SHA-256 of the image file's bytes.
        question: the question text, without choices.
        answer: gold answer as a model should write it after ``Answer:``; a letter for
            multiple-choice items.
        answer_type: one of ``ANSWER_TYPES``; decides parsing and matching.
        choices: option texts for multiple-choice items (letters A, B, ... in order).
        facts: structured ground truth about the image (objects, values, ...).
        rationale: gold rationale, true of ``facts``, whose last line is ``Answer: <answer>``.
        question_type: template family (``count``, ``max``, ``area``, ...), for breakdowns.
        source: where the image content comes from (package, generator).
        license: licence of the source data.
        schema_version: version of this record's schema.
        origin: ``(file, line)`` the item was read from (set by :func:`read_items`), so that a
            refusal of its image path can name them; not serialised, not compared.
    """

    id: str
    suite: str
    split: str
    category: str
    image: str
    image_sha256: str
    question: str
    answer: str
    answer_type: str
    choices: list[str] | None = None
    facts: dict[str, Any] = field(default_factory=dict)
    rationale: str = ""
    question_type: str = ""
    source: str = ""
    license: str = ""
    schema_version: int = ITEM_SCHEMA_VERSION
    origin: tuple[str, int] | None = field(default=None, compare=False, repr=False)

    @property
    def answer_text(self) -> str:
        """The gold answer as text: the chosen option for multiple choice, else ``answer``."""
        if self.answer_type == "multiple_choice" and self.choices:
            return self.choices[LETTERS.index(self.answer)]
        return self.answer

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        del out["origin"]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BenchmarkItem:
        """Build from a JSON object; unknown or missing fields raise :class:`RecordError`."""
        if not isinstance(data, dict):
            raise RecordError(f"expected a JSON object, got {type(data).__name__}")
        names = {f.name for f in dataclasses.fields(cls)} - {"origin"}
        unknown = sorted(set(data) - names)
        if unknown:
            raise RecordError(f"field {unknown[0]!r}: unknown field")
        required = [
            f.name
            for f in dataclasses.fields(cls)
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        ]
        for name in required:
            if name not in data:
                raise RecordError(f"field {name!r}: missing")
        for name in names - {"choices", "facts", "schema_version"}:
            if name in data and not isinstance(data[name], str):
                raise RecordError(f"field {name!r}: expected a string, got {type(data[name]).__name__}")
        choices = data.get("choices")
        if choices is not None and not (
            isinstance(choices, list) and all(isinstance(c, str) for c in choices)
        ):
            raise RecordError("field 'choices': expected a list of strings or null")
        if not isinstance(data.get("facts", {}), dict):
            raise RecordError("field 'facts': expected an object")
        version = data.get("schema_version", ITEM_SCHEMA_VERSION)
        if version != ITEM_SCHEMA_VERSION:
            raise RecordError(f"field 'schema_version': unsupported version {version!r}")
        return cls(**data)


def write_jsonl(path: str | Path, records: list[Any]) -> None:
    """Write records (dataclasses or dicts) as JSONL atomically (temp file + rename)."""
    from benchmarks.fileio import atomic_write_text

    lines = [json.dumps(r.to_dict() if hasattr(r, "to_dict") else r, ensure_ascii=False) for r in records]
    atomic_write_text(path, "".join(line + "\n" for line in lines))


def read_items(path: str | Path) -> list[BenchmarkItem]:
    """Read a JSONL file of items; a bad line raises RecordError naming file, line and field."""
    items: list[BenchmarkItem] = []
    with open(path, encoding="utf-8") as handle:
        for lineno, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                item = BenchmarkItem.from_dict(json.loads(line))
            except json.JSONDecodeError as exc:
                raise RecordError(f"{path}:{lineno}: invalid JSON ({exc.msg})") from exc
            except (RecordError, TypeError) as exc:
                raise RecordError(f"{path}:{lineno}: {exc}") from exc
            item.origin = (str(path), lineno)
            items.append(item)
    return items
