"""The ``conclusion`` reader: the conclusion a rationale states itself (programmatic, no model)."""

from __future__ import annotations

import re
from typing import Any

from benchmarks.parsing import normalize_answer
from harness.implied_answer.base import READER_PROMPT_VERSION, ImpliedAnswer, ReaderConfig, ReadQuery

_OPTION = re.compile(r"\boption\s*\(?([A-J])\)?(?![A-Za-z])")
ANSWER_IS = re.compile(r"\banswer\s+(?:is|would be|should be)\s*:?\s*([^.\n]+)", re.IGNORECASE)
NUMBER = re.compile(r"[-−]?\d+(?:,\d{3})*(?:\.\d+)?")
LAST_IS = re.compile(r"\b(?:is|are)\s+(?:a |an |the )?([A-Za-z][\w\- ]{0,30}?)\s*[.,;]?\s*$", re.IGNORECASE)


def sentences(text: str) -> list[str]:
    return [s.strip() for s in re.split(r"(?<=[.!?])\s+|\n+", text) if s.strip()]


STOPWORDS = frozenset(
    [
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "does",
        "do",
        "did",
        "can",
        "could",
        "will",
        "would",
        "has",
        "have",
        "had",
        "the",
        "a",
        "an",
        "of",
        "in",
        "on",
        "at",
        "to",
        "for",
        "from",
        "by",
        "with",
        "there",
        "this",
        "that",
        "these",
        "those",
        "it",
        "its",
        "image",
        "picture",
        "photo",
        "shown",
        "show",
        "shows",
        "and",
        "or",
        "than",
        "as",
        "any",
        "some",
        "what",
        "which",
        "who",
        "how",
    ]
)
NEGATORS = frozenset({"not", "no", "never", "none", "nothing", "neither", "nor", "cannot", "without"})
_ANTONYMS = (
    ("above", "below"), ("more", "fewer"), ("more", "less"), ("greater", "less"), ("greater", "smaller"),
    ("larger", "smaller"), ("bigger", "smaller"), ("longer", "shorter"), ("taller", "shorter"),
    ("higher", "lower"), ("increase", "decrease"), ("left", "right"), ("before", "after"),
    ("top", "bottom"), ("warmer", "colder"), ("hotter", "colder"), ("heavier", "lighter"),
    ("older", "younger"), ("inside", "outside"), ("same", "different"), ("open", "closed"),
)  # fmt: skip
_CONCLUDES = re.compile(r"(?:,?\s+so\s+|\btherefore,?\s+|\bthus,?\s+|\bhence,?\s+)", re.IGNORECASE)


def _stem(word: str) -> str:
    word = word.lower()
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word


def words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9°]+(?:'[a-z]+)?", text.lower().replace("’", "'"))


def concluding_clause(sentence: str) -> str:
    """The part of a sentence after its last "so" / "therefore" / "thus" / "hence" (else all of it)."""
    return _CONCLUDES.split(sentence)[-1].strip()


def yes_no_polarity(question: str, sentence: str) -> str | None:
    """Does ``sentence`` affirm or deny the proposition of a yes/no ``question``? ``None``: it is not about it.

    The concluding clause must share at least half of the question's content words (counting an
    antonym, e.g. "above" / "below"); its polarity is the parity of its negations ("not", "no",
    "n't", ...), the antonyms it uses and the negations in the question.
    """
    asked = [w for w in words(re.sub(r"\([^)]*\)", " ", question)) if w not in STOPWORDS]
    clause = words(concluding_clause(sentence))
    q_neg = sum(1 for w in asked if w in NEGATORS or w.endswith("n't"))
    q_content = {_stem(w) for w in asked if w not in NEGATORS}
    c_neg = sum(1 for w in clause if w in NEGATORS or w.endswith("n't"))
    c_content = {_stem(w) for w in clause if w not in STOPWORDS and w not in NEGATORS}
    if not q_content:
        return None
    shared = len(q_content & c_content)
    flips = sum(
        1
        for a, b in _ANTONYMS
        for x, y in ((a, b), (b, a))
        if x in q_content and y in c_content and x not in c_content
    )
    if shared + flips < max(1, (len(q_content) + 1) // 2):
        return None
    return "yes" if (q_neg + c_neg + flips) % 2 == 0 else "no"


class ConclusionReader:
    """The conclusion a rationale states itself (programmatic, deterministic, no model)."""

    def __init__(self, cfg: ReaderConfig | None = None) -> None:
        self.cfg = cfg or ReaderConfig(name="conclusion")

    def identity(self) -> dict[str, Any]:
        return {"reader": "conclusion", "version": READER_PROMPT_VERSION}

    def read(self, queries: list[ReadQuery]) -> list[ImpliedAnswer]:
        return [self.read_one(q) for q in queries]

    def read_one(self, query: ReadQuery) -> ImpliedAnswer:
        text = query.rationale.strip()
        if not text:
            return ImpliedAnswer(None, "no_rationale")
        kind, choices = query.answer_type, query.choices

        def norm(raw: str) -> ImpliedAnswer | None:
            answer = normalize_answer(raw.strip(), kind, choices)
            return ImpliedAnswer(answer, "ok", raw.strip()) if answer is not None else None

        stated = ANSWER_IS.findall(text)
        if stated and (found := norm(stated[-1])):
            return found
        if kind == "multiple_choice":
            letters = _OPTION.findall(text)
            if letters and choices and ord(letters[-1]) - 65 < len(choices):
                return ImpliedAnswer(letters[-1], "ok", f"option {letters[-1]}")
        last = sentences(text)[-1]
        if kind in ("integer", "float"):
            numbers = NUMBER.findall(last)
            if numbers and (found := norm(numbers[-1])):
                return found
        elif kind == "yes_no":
            opening = re.match(
                r"(yes|no)\s*(?:[,.!;:]|$)", last, re.IGNORECASE
            )  # "Yes, ..." not "No arrow ..."
            if opening:
                return ImpliedAnswer(opening.group(1).lower(), "ok", opening.group(0))
            polarity = yes_no_polarity(query.question, last)
            if polarity is not None:
                return ImpliedAnswer(polarity, "ok", concluding_clause(last))
        if kind == "multiple_choice" and choices:
            named = [c for c in choices if re.search(rf"(?<![\w.]){re.escape(c)}(?![\w])", last, re.I)]
            if len(named) == 1:
                return ImpliedAnswer(chr(65 + choices.index(named[0])), "ok", named[0])
        if kind in ("text", "multiple_choice"):
            tail = LAST_IS.search(last)
            if tail and (found := norm(tail.group(1))):
                return found
        return ImpliedAnswer(None, "no_conclusion")
