"""What a built-in suite is: a seeded generator of visual questions with checkable facts.

A suite turns real data shipped by a package (easy-VQA, MNIST, vega tables) or an
in-project generator into :class:`Draft` items. Each draft carries the structured
``facts`` of its image and a gold ``rationale`` rendered from them. The suite also knows
how to *check* a rationale: :meth:`Suite.check_rationale` finds the statements it can
verify in free text and says whether each is true of the facts. Gold rationales are
written in that same grammar, so every gold statement is checkable, and a model trained
on them is graded on the same statements.
"""

from __future__ import annotations

import random
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

from benchmarks.records import LETTERS


@dataclass
class Draft:
    """An item before its image is written to disk (see ``BenchmarkItem`` for fields)."""

    image: Any  # PIL.Image.Image
    question: str
    answer: str
    answer_type: str
    facts: dict[str, Any]
    rationale: str
    question_type: str
    choices: list[str] | None = None
    image_key: str = ""
    """Identifies the source image (for disjointness bookkeeping), e.g. ``easyvqa/train/12``."""
    source: str = ""
    """This item's source when a suite mixes sources (else the suite's ``info.source``)."""
    license: str = ""
    """This item's licence when a suite mixes sources (else the suite's ``info.license``)."""


@dataclass
class ClaimCheck:
    """One verifiable statement found in a rationale and whether the facts support it."""

    claim: str
    true: bool
    kind: str = ""


@dataclass
class SuiteInfo:
    name: str
    category: str
    source: str
    license: str
    description: str = ""
    question_types: list[str] = field(default_factory=list)


class Suite(ABC):
    """A built-in benchmark suite.

    Subclasses set ``info`` and implement :meth:`generate` and :meth:`check_rationale`.
    ``generate`` must be deterministic given ``(split, n, seed)`` and must draw real
    source images for different splits from disjoint parts of the source.
    """

    info: SuiteInfo

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def category(self) -> str:
        return self.info.category

    @abstractmethod
    def generate(self, split: str, n: int, seed: int) -> list[Draft]:
        """Return ``n`` drafts for ``split`` (several drafts may share one image)."""

    @abstractmethod
    def check_rationale(self, rationale: str, facts: dict[str, Any]) -> list[ClaimCheck]:
        """Find the statements in ``rationale`` this suite can verify and check them."""

    def counted_rationale(self, rationale: str, facts: dict[str, Any]) -> str:
        """``rationale`` with any enumeration opened by its count (RFT's ``counted`` targets); as is by default."""
        return rationale


# ---------------------------------------------------------------- helpers for suites


def split_rng(seed: int, suite: str, split: str) -> random.Random:
    """An RNG private to (seed, suite, split): splits never share a random stream."""
    return random.Random(f"{seed}/{suite}/{split}")


SPLIT_FRACTIONS = {"base": (0.0, 0.4), "rft": (0.4, 0.65), "calib": (0.65, 0.8), "test": (0.8, 1.0)}
"""How a finite real source (a list of images) is partitioned between splits."""


def partition(indices: list[int], split: str, seed: int) -> list[int]:
    """The part of ``indices`` that belongs to ``split`` (disjoint across splits, seeded)."""
    order = list(indices)
    random.Random(f"partition/{seed}").shuffle(order)
    lo, hi = SPLIT_FRACTIONS[split]
    return order[int(lo * len(order)) : int(hi * len(order))]


def multiple_choice(
    rng: random.Random, correct: str, distractors: list[str], k: int = 4
) -> tuple[list[str], str]:
    """Shuffle ``correct`` among up to ``k - 1`` distinct distractors; return (choices, letter)."""
    pool = [d for d in dict.fromkeys(distractors) if d != correct]
    rng.shuffle(pool)
    choices = [correct, *pool[: k - 1]]
    rng.shuffle(choices)
    return choices, LETTERS[choices.index(correct)]


def with_answer(sentences: list[str], answer: str) -> str:
    """Join rationale sentences and append the final ``Answer:`` line."""
    body = " ".join(s.strip() for s in sentences if s.strip())
    return f"{body}\nAnswer: {answer}"


def fmt_number(value: float) -> str:
    """Format a number the way rationales and answers write it (``12``, ``3.5``)."""
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.2f}".rstrip("0").rstrip(".")


def sentences(text: str) -> list[str]:
    """Split a rationale into sentences (the ``Answer:`` line excluded)."""
    body = re.split(r"\n\s*answer\s*:", text, flags=re.IGNORECASE)[0]
    return [s.strip() for s in re.split(r"(?<=[.!?])\s+|\n+", body) if s.strip()]


def yes_no(flag: bool) -> str:
    return "yes" if flag else "no"
