"""Split a model response into rationale and final answer, explicitly.

``parse_response`` never guesses: when no answer can be read it returns
``final_answer=None`` with a status saying why, so failures are counted, not hidden.

Statuses:
    ``ok``                 an explicit ``Answer: ...`` marker (the last one wins) whose
                           content parses for the answer type.
    ``fallback_<rule>``    no marker, but a weaker rule found the answer: ``boxed``
                           (``\\boxed{12}``), ``answer_is`` ("the answer is B"),
                           ``option_letter`` (a line such as ``B) 42``), ``short``
                           (the whole response is a short answer), ``option_text``
                           (exactly one option's text is named).
    ``no_answer_marker``   a rationale with no answer anywhere (rationale-only response).
    ``invalid``            empty response, or an answer that does not parse for the type
                           (e.g. a letter that is not among the choices).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from benchmarks.records import LETTERS

INVALID = "[invalid]"

STATUS_OK = "ok"
STATUS_NO_MARKER = "no_answer_marker"
STATUS_INVALID = "invalid"

_MARKER = re.compile(r"(?:^|\n|\s)\**\s*(?:final\s+answer|answer)\s*\**\s*[:：]\s*\**", re.IGNORECASE)
_BOXED = re.compile(r"\\boxed\{((?:[^{}]|\{[^{}]*\})*)\}")
_ANSWER_IS = re.compile(
    r"(?:the\s+)?(?:correct\s+|final\s+|right\s+)?(?:answer|option|choice)\s+(?:is|would be|should be)\s*[:\-]?\s*(.+?)(?:\.\s|\.$|\n|$)",
    re.IGNORECASE,
)
_OPTION_LINE = re.compile(r"^\s*\(?([A-J])\)\s*\S|^\s*\(?([A-J])[.:]\s+\S", re.MULTILINE)
_NUMBER = re.compile(r"[-−]?\$?\d{1,3}(?:,\d{3})+(?:\.\d+)?|[-−]?\$?\d*\.?\d+(?:/\d+)?")
WORD_NUMBERS = {
    w: i
    for i, w in enumerate(
        [
            "zero",
            "one",
            "two",
            "three",
            "four",
            "five",
            "six",
            "seven",
            "eight",
            "nine",
            "ten",
            "eleven",
            "twelve",
            "thirteen",
            "fourteen",
            "fifteen",
            "sixteen",
            "seventeen",
            "eighteen",
            "nineteen",
            "twenty",
        ]
    )
}
_ARTICLES = re.compile(r"\b(a|an|the)\b", re.IGNORECASE)
SHORT_RESPONSE_WORDS = 6


@dataclass
class ParsedResponse:
    """A response split into its parts.

    Attributes:
        rationale: the text before the final answer (the whole text when none was found).
        final_answer: the normalised answer (letter, ``yes``/``no``, canonical number,
            normalised text), or ``None`` when none could be read.
        parse_status: see the module docstring.
        raw_answer: the answer text as written, before normalisation (``None`` if absent).
    """

    rationale: str
    final_answer: str | None
    parse_status: str
    raw_answer: str | None = None

    @property
    def failed(self) -> bool:
        return self.final_answer is None


# ------------------------------------------------------------------ normalisers


def normalize_text(text: str) -> str:
    """Lower-case, drop articles, punctuation at the ends and repeated spaces."""
    text = text.strip().lower()
    text = _ARTICLES.sub(" ", text)
    text = re.sub(r"\s+", " ", text).strip()
    return text.strip(" .,;:!?\"'`*()[]")


def parse_number(text: str) -> float | None:
    """The last number in ``text``: handles ``1,234``, ``$5``, ``45%``, ``3/4``, ``-2``, words.

    Percent signs are dropped (``45%`` -> 45); callers that need the percent keep the raw text.
    """
    cleaned = text.replace("−", "-").replace("\u2009", "").replace("\u00a0", " ")
    matches = _NUMBER.findall(cleaned)
    if matches:
        token = matches[-1].replace("$", "").replace(",", "")
        if "/" in token:
            num, den = token.split("/", 1)
            try:
                return float(num) / float(den) if float(den) != 0 else None
            except ValueError:
                return None
        try:
            return float(token)
        except ValueError:
            return None
    words = re.findall(r"[a-z]+", cleaned.lower())
    for word in reversed(words):
        if word in WORD_NUMBERS:
            return float(WORD_NUMBERS[word])
    return None


def format_number(value: float) -> str:
    """Canonical string of a number: ``12``, ``3.5``, ``-0.25``."""
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.6f}".rstrip("0").rstrip(".")


def letter_of(text: str, choices: list[str] | None) -> str | None:
    """The option letter ``text`` designates: ``B``, ``(B)``, ``B) 42``, ``Option B`` or an option's text.

    A letter outside the given choices gives ``None`` (never a guess).
    """
    stripped = text.strip().strip("*").strip()
    valid = LETTERS[: len(choices)] if choices else LETTERS
    if choices:
        norm = normalize_text(stripped)
        hits = [LETTERS[i] for i, c in enumerate(choices) if normalize_text(c) == norm]
        if len(hits) == 1:
            return hits[0]
    match = re.match(r"^(?:option|choice)\s*\(?([A-Ja-j])\)?(?![A-Za-z])", stripped, re.IGNORECASE)
    if match is None:
        match = re.match(r"^\(?([A-J])\)?(?=$|[.):,]|\s)", stripped)
    if match is None:  # lower case only when unambiguous: "b" or "(b)"
        match = re.match(r"^(?:([a-j])|\(([a-j])\))[.)]?$", stripped)
        if match is not None:
            letter = (match.group(1) or match.group(2)).upper()
            return letter if letter in valid else None
    if match is None:
        return None
    letter = match.group(1).upper()
    return letter if letter in valid else None


def normalize_answer(text: str, answer_type: str, choices: list[str] | None = None) -> str | None:
    """Normalise an extracted answer for ``answer_type``; ``None`` if it does not parse."""
    text = text.strip()
    if not text:
        return None
    if answer_type == "multiple_choice":
        return letter_of(text, choices)
    if answer_type == "yes_no":
        first = re.findall(r"[a-z]+", text.lower())
        if first and first[0] in ("yes", "no"):
            return first[0]
        return None
    if answer_type in ("integer", "float"):
        value = parse_number(text)
        return None if value is None else format_number(value)
    return normalize_text(text) or None


# ------------------------------------------------------------------ the parser


def _after_last_marker(text: str) -> tuple[str, str] | None:
    matches = list(_MARKER.finditer(text))
    if not matches:
        return None
    last = matches[-1]
    answer = text[last.end() :].strip().split("\n", 1)[0].strip()
    return text[: last.start()].strip(), answer.strip("*").strip()


def parse_response(text: str | None, answer_type: str, choices: list[str] | None = None) -> ParsedResponse:
    """Split ``text`` into rationale and final answer for a question of ``answer_type``."""
    text = (text or "").strip()
    if not text:
        return ParsedResponse("", None, STATUS_INVALID, None)

    marked = _after_last_marker(text)
    if marked is not None:
        rationale, raw = marked
        answer = normalize_answer(raw, answer_type, choices)
        return ParsedResponse(rationale, answer, STATUS_OK if answer is not None else STATUS_INVALID, raw)

    boxed = _BOXED.findall(text)
    if boxed:
        raw = boxed[-1]
        answer = normalize_answer(raw, answer_type, choices)
        if answer is not None:
            return ParsedResponse(text[: text.rfind("\\boxed")].strip(), answer, "fallback_boxed", raw)

    answer_is = list(_ANSWER_IS.finditer(text))
    if answer_is:
        last = answer_is[-1]
        raw = last.group(1).strip()
        answer = normalize_answer(raw, answer_type, choices)
        if answer is not None:
            return ParsedResponse(text[: last.start()].strip(), answer, "fallback_answer_is", raw)

    lines = [line for line in text.splitlines() if line.strip()]
    if answer_type == "multiple_choice":
        option_lines = list(_OPTION_LINE.finditer(lines[-1]))
        if option_lines:
            raw = lines[-1].strip()
            answer = letter_of(raw, choices)
            if answer is not None:
                return ParsedResponse("\n".join(lines[:-1]).strip(), answer, "fallback_option_letter", raw)

    if len(lines) == 1 and len(text.split()) <= SHORT_RESPONSE_WORDS:
        answer = normalize_answer(text, answer_type, choices)
        if answer is not None:
            return ParsedResponse("", answer, "fallback_short", text)
        return ParsedResponse("", None, STATUS_INVALID, text)

    if answer_type == "multiple_choice" and choices:
        low = text.lower()
        named = [
            LETTERS[i]
            for i, c in enumerate(choices)
            if normalize_text(c) and re.search(rf"\b{re.escape(normalize_text(c))}\b", low)
        ]
        if len(named) == 1:
            return ParsedResponse(text, named[0], "fallback_option_text", choices[LETTERS.index(named[0])])

    return ParsedResponse(text, None, STATUS_NO_MARKER, None)
