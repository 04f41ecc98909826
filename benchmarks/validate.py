"""Check a built dataset (or one JSONL file): ``srcal data validate``.

Every problem names the file, the line and the field. Checks: JSON and schema, empty
questions, unknown categories/answer types, multiple-choice answers not among the
choices, answers that do not parse for their type, gold rationales whose final answer is
not the gold answer, duplicate ids, image paths that escape the dataset directory
(rejected by :func:`benchmarks.paths.resolve_data_path`, the rule every reader applies; never
opened), missing/unreadable/corrupt images, image hashes that do not
match, and items or images shared between splits.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.fileio import sha256_file
from benchmarks.parsing import normalize_answer, parse_response
from benchmarks.paths import DataPathError, resolve_data_path
from benchmarks.records import ANSWER_TYPES, CATEGORIES, LETTERS, SPLITS, BenchmarkItem, RecordError


@dataclass(frozen=True)
class Problem:
    file: str
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"


def _check_image(root: Path, item: BenchmarkItem, where: tuple[str, int], out: list[Problem]) -> None:
    file, line = where
    try:
        path = resolve_data_path(root, item.image, file=file, line=line, field="image")
    except DataPathError as exc:
        out.append(Problem(file, line, "image", f"{exc.reason} (not opened)"))
        return
    if not path.is_file():
        out.append(Problem(file, line, "image", f"missing image file {item.image!r}"))
        return
    try:
        from PIL import Image

        with Image.open(path) as image:
            image.verify()
        with Image.open(path) as image:
            image.load()
    except Exception as exc:  # PIL raises many types for corrupt files
        out.append(
            Problem(
                file,
                line,
                "image",
                f"unreadable or corrupt image {item.image!r} ({type(exc).__name__}: {exc})",
            )
        )
        return
    if item.image_sha256 and sha256_file(path) != item.image_sha256:
        out.append(Problem(file, line, "image_sha256", f"does not match the bytes of {item.image!r}"))


def _check_item(item: BenchmarkItem, where: tuple[str, int], out: list[Problem]) -> None:
    file, line = where

    def bad(field_name: str, message: str) -> None:
        out.append(Problem(file, line, field_name, message))

    if not item.id.strip():
        bad("id", "empty id")
    if not item.question.strip():
        bad("question", "empty question")
    if item.category not in CATEGORIES:
        bad("category", f"unknown category {item.category!r} (expected one of {', '.join(CATEGORIES)})")
    if item.split not in SPLITS:
        bad("split", f"unknown split {item.split!r} (expected one of {', '.join(SPLITS)})")
    if item.answer_type not in ANSWER_TYPES:
        bad("answer_type", f"unknown answer type {item.answer_type!r}")
        return
    if item.answer_type == "multiple_choice":
        if not item.choices or len(item.choices) < 2:
            bad("choices", "a multiple-choice item needs at least two choices")
            return
        if any(not str(c).strip() for c in item.choices):
            bad("choices", "empty choice text")
        if item.answer not in LETTERS[: len(item.choices)]:
            bad(
                "answer",
                f"answer {item.answer!r} is not among the choices' letters {LETTERS[: len(item.choices)]}",
            )
            return
    elif normalize_answer(item.answer, item.answer_type, item.choices) is None:
        bad("answer", f"answer {item.answer!r} does not parse as {item.answer_type}")
        return
    if item.rationale:
        parsed = parse_response(item.rationale, item.answer_type, item.choices)
        gold = normalize_answer(item.answer, item.answer_type, item.choices)
        if parsed.parse_status != "ok" or parsed.final_answer != gold:
            bad(
                "rationale",
                f"final answer {parsed.final_answer!r} ({parsed.parse_status}) is not the gold answer {gold!r}",
            )


def validate_file(
    path: Path, root: Path, check_images: bool = True
) -> tuple[list[BenchmarkItem], list[Problem]]:
    """Items that parsed and the problems found in one JSONL file."""
    problems: list[Problem] = []
    items: list[BenchmarkItem] = []
    file = str(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        return [], [Problem(file, 0, "", f"cannot read ({exc})")]
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            data: Any = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.append(Problem(file, lineno, "", f"invalid JSON ({exc.msg})"))
            continue
        try:
            item = BenchmarkItem.from_dict(data)
        except (RecordError, TypeError) as exc:
            text = str(exc)
            field_name = text.split("'")[1] if text.startswith("field '") else ""
            problems.append(
                Problem(file, lineno, field_name, text.split(": ", 1)[-1] if field_name else text)
            )
            continue
        item._line = lineno  # type: ignore[attr-defined]
        _check_item(item, (file, lineno), problems)
        if check_images:
            _check_image(root, item, (file, lineno), problems)
        items.append(item)
    return items, problems


def validate(target: str | Path, check_images: bool = True) -> list[Problem]:
    """All problems of a dataset directory (its split files) or of one JSONL file."""
    target = Path(target)
    if target.is_dir():
        root = target
        files = [target / f"{s}.jsonl" for s in SPLITS if (target / f"{s}.jsonl").exists()]
        if not files:
            return [Problem(str(target), 0, "", "no split files (base/rft/calib/test .jsonl) found")]
    elif target.is_file():
        root, files = target.parent, [target]
    else:
        return [Problem(str(target), 0, "", "no such file or directory")]

    problems: list[Problem] = []
    id_where: dict[str, tuple[str, int]] = {}
    image_split: dict[str, tuple[str, str, int]] = {}
    for path in files:
        items, found = validate_file(path, root, check_images)
        problems.extend(found)
        expected_split = path.stem if path.stem in SPLITS else None
        for item in items:
            line = item._line  # type: ignore[attr-defined]
            if expected_split and item.split != expected_split:
                problems.append(
                    Problem(str(path), line, "split", f"item of split {item.split!r} in {path.name}")
                )
            if item.id in id_where:
                f, ln = id_where[item.id]
                problems.append(
                    Problem(str(path), line, "id", f"duplicate id {item.id!r} (first at {f}:{ln})")
                )
            else:
                id_where[item.id] = (str(path), line)
            owner = image_split.get(item.image_sha256)
            if owner is None:
                image_split[item.image_sha256] = (item.split, str(path), line)
            elif owner[0] != item.split:
                problems.append(
                    Problem(
                        str(path),
                        line,
                        "image_sha256",
                        f"image shared with split {owner[0]!r} ({owner[1]}:{owner[2]})",
                    )
                )
    manifest = root / "manifest.json"
    if target.is_dir() and manifest.exists():
        try:
            splits = json.loads(manifest.read_text()).get("splits", {})
        except json.JSONDecodeError as exc:
            problems.append(Problem(str(manifest), exc.lineno, "", f"invalid JSON ({exc.msg})"))
            splits = {}
        for split, info in splits.items():
            path = root / f"{split}.jsonl"
            if path.exists() and info.get("sha256") and sha256_file(path) != info["sha256"]:
                problems.append(
                    Problem(str(manifest), 0, f"splits.{split}.sha256", f"does not match {path.name}")
                )
    return problems
