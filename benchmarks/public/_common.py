"""Helpers shared by the public benchmark specs (field cleaning, ids, prompts, group metrics)."""

from __future__ import annotations

import hashlib
import math
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable
from typing import Any

from benchmarks.prompts import MC_SHORT, PROMPT_STYLES, RATIONALE, RATIONALE_MC, build_prompt
from benchmarks.records import LETTERS, RecordError
from benchmarks.scoring import accuracy_summary


def clean_text(value: Any) -> str | None:
    """A text field as a stripped string; ``None`` for missing values (``None``, NaN, ``"nan"``, ``""``)."""
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    text = str(value).strip()
    if not text or text.lower() == "nan":
        return None
    return text


def require_text(raw: dict[str, Any], name: str) -> str:
    """A non-empty text field, or a RecordError naming it."""
    if name not in raw:
        raise RecordError(f"field {name!r}: missing")
    text = clean_text(raw[name])
    if text is None:
        raise RecordError(f"field {name!r}: empty")
    return text


def content_id(prefix: str, *parts: Any) -> str:
    """A stable id for schemas without one: ``<prefix>-<sha1 of the parts>`` (12 hex digits)."""
    digest = hashlib.sha1("\x1f".join(str(p) for p in parts).encode("utf-8")).hexdigest()[:12]
    return f"{prefix}-{digest}"


def first_image(value: Any) -> Any:
    """The image of a field that may hold one image or a list of images (SEED-Bench)."""
    if isinstance(value, list | tuple):
        return value[0] if value else None
    return value


def index_letter(index: Any, choices: list[str], field: str = "answer") -> str:
    """The option letter of a 0-based answer index (int or numeric string)."""
    try:
        i = int(str(index).strip())
    except ValueError as exc:
        raise RecordError(f"field {field!r}: {index!r} is not an option index") from exc
    if not 0 <= i < len(choices):
        raise RecordError(f"field {field!r}: index {i} out of range for {len(choices)} options")
    return LETTERS[i]


def check_letter(answer: Any, choices: list[str] | None, field: str = "answer") -> str:
    """A gold option letter, upper-cased and checked against the options."""
    letter = str(answer).strip().upper()
    valid = LETTERS[: len(choices)] if choices else LETTERS
    if len(letter) != 1 or letter not in valid:
        raise RecordError(f"field {field!r}: {answer!r} is not one of the option letters {valid}")
    return letter


def check_style(style: str) -> None:
    """Raise ValueError for an unknown prompt style."""
    if style not in PROMPT_STYLES:
        raise ValueError(f"unknown prompt style {style!r}; expected one of {', '.join(PROMPT_STYLES)}")


def inline_options_prompt(question: str, hint: str | None, style: str, multiple_choice: bool = True) -> str:
    """A prompt for a question whose text already lists its options (MMStar, MathVista ``query``)."""
    check_style(style)
    text = build_prompt(question, None, hint, "bare")
    if style == "plain" and multiple_choice:
        text += "\n" + MC_SHORT
    elif style == "plain":
        text = build_prompt(question, None, hint, "plain")
    elif style == "rationale":
        text += "\n" + (RATIONALE_MC if multiple_choice else RATIONALE)
    return text


def group_accuracy(
    rows: Iterable[dict[str, Any]], key: Callable[[dict[str, Any]], Hashable]
) -> dict[str, Any]:
    """``{group: {"n": ..., "accuracy": ...}}`` over rows with a ``correct`` field, groups sorted."""
    groups: dict[Hashable, list[bool]] = defaultdict(list)
    for row in rows:
        groups[key(row)].append(bool(row["correct"]))
    return {
        str(g): {"n": len(v), "accuracy": sum(v) / len(v)}
        for g, v in sorted(groups.items(), key=lambda kv: str(kv[0]))
    }


def all_correct_rate(
    rows: Iterable[dict[str, Any]], key: Callable[[dict[str, Any]], Hashable]
) -> tuple[float, int]:
    """(fraction of groups whose rows are all correct, number of groups)."""
    groups: dict[Hashable, bool] = {}
    for row in rows:
        k = key(row)
        groups[k] = groups.get(k, True) and bool(row["correct"])
    n = len(groups)
    return (sum(groups.values()) / n if n else float("nan")), n


def summary_with_groups(rows: list[dict[str, Any]], **group_fields: str) -> dict[str, Any]:
    """``accuracy_summary`` plus ``by_<name>`` accuracies for each ``name=row_field`` given."""
    summary = accuracy_summary(rows)
    for name, field in group_fields.items():
        summary[f"by_{name}"] = group_accuracy(rows, lambda r, f=field: r.get(f))
    return summary
