"""What a public training source is, and the VQA answer rules several of them share.

A :class:`TrainingSource` is a benchmark spec (`benchmarks.spec.BenchmarkSpec`) over a dataset's
training split: the same loading (hub id + split, or a local directory: `benchmarks.loading`), the
same ``to_doc`` from the dataset's own schema, plus what a training pool needs: its category (the
paper's perception / chart / math & science), its licence and the rule that picks a row's one gold
answer. ``srcal data build --preset paper-public`` draws the rft and calib pools from them
(`benchmarks.public_pools`).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from typing import Any

from benchmarks.parsing import parse_number, parse_response
from benchmarks.records import RecordError
from benchmarks.scoring import accuracy_summary, mean
from benchmarks.spec import BenchmarkSpec, EvalDoc


class TrainingSource(BenchmarkSpec):
    """A public training set's spec.

    Attributes (beyond `BenchmarkSpec`'s):
        category: ``perception``, ``chart`` or ``math_science`` (`benchmarks.records.CATEGORIES`).
        license: the dataset's licence, recorded in the build manifest.
        answer_rule: how a row's one gold answer is chosen (recorded in the manifest).
    ``to_doc`` may put a human-written rationale in ``extra["rationale"]`` (A-OKVQA's, ScienceQA's
    solution) and a question family in ``extra["question_type"]``.
    """

    split = "train"
    license: str = ""
    answer_rule: str = ""


# ---------------------------------------------------------------- VQA (VQAv2, OK-VQA, TextVQA, A-OKVQA)

_NUMBER_WORDS = {
    "none": "0", "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5",
    "six": "6", "seven": "7", "eight": "8", "nine": "9", "ten": "10",
}  # fmt: skip
_ARTICLES = {"a", "an", "the"}
_CONTRACTIONS = {
    "arent": "aren't", "cant": "can't", "couldnt": "couldn't", "didnt": "didn't", "doesnt": "doesn't",
    "dont": "don't", "hadnt": "hadn't", "hasnt": "hasn't", "havent": "haven't", "isnt": "isn't",
    "shouldnt": "shouldn't", "wasnt": "wasn't", "werent": "weren't", "wont": "won't", "wouldnt": "wouldn't",
    "youre": "you're", "theyre": "they're", "thats": "that's", "whats": "what's", "its": "it's",
}  # fmt: skip
_PUNCT = [
    ";",
    "/",
    "[",
    "]",
    '"',
    "{",
    "}",
    "(",
    ")",
    "=",
    "+",
    "\\",
    "_",
    "-",
    ">",
    "<",
    "@",
    "`",
    ",",
    "?",
    "!",
]
_PERIOD = re.compile(r"(?!<=\d)(\.)(?!\d)")
_COMMA_DIGITS = re.compile(r"(\d)(,)(\d)")


def vqa_normalize(text: str) -> str:
    """An answer as the official VQA evaluation compares it (vqaEval.py: processPunctuation, then
    processDigitArticle): a punctuation mark is deleted where the text has it beside a space or has a
    thousands comma, else replaced by a space; periods outside numbers dropped; lower case; number words
    zero..ten as digits; articles dropped; common contractions restored."""
    source = text.replace("\n", " ").replace("\t", " ").strip()
    text = source
    for p in _PUNCT:
        if (p + " " in source or " " + p in source) or _COMMA_DIGITS.search(source) is not None:
            text = text.replace(p, "")
        else:
            text = text.replace(p, " ")
    text = _PERIOD.sub("", text)
    words = []
    for word in text.lower().split():
        word = _NUMBER_WORDS.get(word, word)
        if word in _ARTICLES:
            continue
        words.append(_CONTRACTIONS.get(word, word))
    return " ".join(words)


def vqa_accuracy(prediction: str | None, answers: Sequence[str]) -> float:
    """The VQA accuracy of ``prediction`` against the human ``answers`` (usually 10): the mean over each
    left-out answer of min(1, matches among the others / 3), answers compared after `vqa_normalize`."""
    if prediction is None or not answers:
        return 0.0
    pred = vqa_normalize(prediction)
    gold = [vqa_normalize(a) for a in answers]
    if len(gold) == 1:
        return float(pred == gold[0])
    scores = []
    for i in range(len(gold)):
        others = gold[:i] + gold[i + 1 :]
        scores.append(min(1.0, sum(g == pred for g in others) / 3.0))
    return sum(scores) / len(scores)


def vqa_gold(answers: Sequence[str], field: str = "answers") -> str:
    """The most frequent of the human ``answers`` after `vqa_normalize` (ties: the first given)."""
    normalized = [vqa_normalize(a) for a in answers if str(a).strip()]
    normalized = [a for a in normalized if a]
    if not normalized:
        raise RecordError(f"field {field!r}: no non-empty answer")
    counts = Counter(normalized)
    top = max(counts.values())
    return next(a for a in normalized if counts[a] == top)


def answer_type_of(answer: str, hint: str | None = None) -> str:
    """``yes_no`` / ``integer`` / ``float`` / ``text`` for an open answer (``hint``: VQA's answer_type)."""
    if answer in ("yes", "no") and hint in (None, "yes/no"):
        return "yes_no"
    value = parse_number(answer)
    if value is not None and re.fullmatch(r"-?\d+(\.\d+)?", answer.replace(",", "")):
        return "integer" if float(value).is_integer() and "." not in answer else "float"
    return "text"


def answer_strings(raw: dict[str, Any], field: str, key: str | None = "answer") -> list[str]:
    """A list field of answers as strings: plain strings, or dicts whose ``key`` holds the answer."""
    if field not in raw:
        raise RecordError(f"field {field!r}: missing")
    value = raw[field]
    if not isinstance(value, list | tuple):
        raise RecordError(f"field {field!r}: expected a list of answers, got {type(value).__name__}")
    out = []
    for a in value:
        if isinstance(a, dict):
            if key not in a:
                raise RecordError(f"field {field!r}: an answer has no {key!r}")
            a = a[key]
        out.append(str(a))
    return out


class VQASource(TrainingSource):
    """A source scored by the VQA accuracy rule against its rows' human answers (``extra["answers"]``)."""

    answer_rule = (
        "VQA: the most frequent of the human answers after VQA normalisation; scored by VQA accuracy"
    )

    def score(self, response: str | None, doc: EvalDoc) -> dict[str, Any]:
        parsed = parse_response(response, "text")
        answers = doc.extra.get("answers") or [doc.answer]
        accuracy = vqa_accuracy(parsed.raw_answer if parsed.final_answer is not None else None, answers)
        return {
            "rationale": parsed.rationale,
            "final_answer": parsed.final_answer,
            "raw_answer": parsed.raw_answer,
            "parse_status": parsed.parse_status,
            "vqa_accuracy": accuracy,
            "correct": accuracy >= 1.0,
        }

    def aggregate(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        summary = accuracy_summary(rows)
        summary["vqa_accuracy"] = mean(r.get("vqa_accuracy", 0.0) for r in rows)
        return summary


class UnusableRow(RecordError):
    """A row in its source's schema whose content gives no item (e.g. no answer that can be read):
    dropped and counted per source, not an error."""


# ---------------------------------------------------------------- conversation-format sources

_CHOICE_LINE = re.compile(r"^\s*\(?([A-J])\)?\s*[.:：)]\s*(.+?)\s*$")
_IMAGE_TAG = re.compile(r"<image>\s*", re.IGNORECASE)


def split_choices(text: str) -> tuple[str, list[str] | None]:
    """A question text with its option lines (``A. x`` / ``A: x`` / ``(A) x``, consecutive letters from A)
    taken out: ``(question, options)``; ``(text, None)`` when it lists no options."""
    lines = text.splitlines()
    options: list[str] = []
    start = None
    for i, line in enumerate(lines):
        match = _CHOICE_LINE.match(line)
        if match and match.group(1) == "ABCDEFGHIJ"[len(options)]:
            start = i if start is None else start
            options.append(match.group(2))
        elif options:
            break
    if len(options) < 2 or start is None:
        return text.strip(), None
    head = [ln for ln in lines[:start] if ln.strip().lower().rstrip(":") not in ("choices", "options")]
    return "\n".join(head).strip(), options


def open_answer(text: str, choices: list[str] | None, field: str) -> tuple[str, str, str]:
    """``(answer, answer_type, rationale)`` read from an answer text (``... Answer: C``, or a short answer
    alone); `UnusableRow` when no answer can be read."""
    from benchmarks.records import LETTERS

    parsed = parse_response(text, "multiple_choice" if choices else "text", choices)
    rationale = parsed.rationale.strip() if parsed.parse_status == "ok" else ""
    if choices:
        if parsed.final_answer in LETTERS[: len(choices)]:
            return parsed.final_answer, "multiple_choice", rationale
        raise UnusableRow(f"field {field!r}: no option letter in {text[-60:]!r}")
    answer = (parsed.raw_answer or "").strip().rstrip(".")
    if parsed.parse_status != "ok":
        answer = text.strip().rstrip(".")
        if len(answer.split()) > 6:
            raise UnusableRow(f"field {field!r}: no 'Answer:' line and more than a short answer")
    if not answer:
        raise UnusableRow(f"field {field!r}: empty answer")
    return (
        answer,
        answer_type_of(vqa_normalize(answer) if answer.lower() in ("yes", "no") else answer),
        rationale,
    )


def conversation_turns(raw: dict[str, Any], field: str = "conversations") -> tuple[str, str]:
    """(first human turn, last assistant turn) of a LLaVA-style ``[{from, value}, ...]`` list."""
    turns = raw.get(field)
    if not isinstance(turns, list) or not turns:
        raise RecordError(f"field {field!r}: expected a non-empty list of turns")
    try:
        human = next(t["value"] for t in turns if t.get("from") in ("human", "user"))
        answer = next(t["value"] for t in reversed(turns) if t.get("from") in ("gpt", "assistant"))
    except (StopIteration, KeyError, AttributeError, TypeError) as exc:
        raise RecordError(
            f"field {field!r}: needs a human turn and a gpt turn with 'from' and 'value'"
        ) from exc
    return _IMAGE_TAG.sub("", str(human)).strip(), str(answer)


class ConversationSource(TrainingSource):
    """A LLaVA-format instruction set: JSON rows ``{image: path, conversations: [{from, value}]}``, images in
    ``image_root`` under the source's directory (Geo170K, MathV360K)."""

    image_field = "image"
    image_root = ""
    answer_rule = "the last assistant turn: the option letter or the text after its last 'Answer:' (else a short answer)"

    def to_doc(self, raw: dict[str, Any]) -> EvalDoc:
        from benchmarks.public._common import content_id

        human, reply = conversation_turns(raw)
        question, choices = split_choices(human)
        answer, answer_type, rationale = open_answer(reply, choices, "conversations")
        image = raw.get(self.image_field)
        if not isinstance(image, str) or not image:
            raise RecordError(f"field {self.image_field!r}: expected an image path")
        return EvalDoc(
            id=str(raw.get("id") or content_id(self.name, image, question)),
            question=question,
            answer=answer,
            answer_type=answer_type,
            choices=choices,
            image=f"{self.image_root}/{image}" if self.image_root else image,
            extra={"rationale": rationale, "question_type": image.split("/", 1)[0]},
        )


class CauldronSource(TrainingSource):
    """A config of ``HuggingFaceM4/the_cauldron``: ``images`` (a list) and ``texts`` (``[{user, assistant,
    source}]``, one question per turn); the row's first turn is taken."""

    dataset = "HuggingFaceM4/the_cauldron"
    image_field = "images"
    answer_rule = "the first turn's assistant text: the option letter or the text after 'Answer:'"

    def to_doc(self, raw: dict[str, Any]) -> EvalDoc:
        from benchmarks.public._common import content_id

        texts = raw.get("texts")
        if not isinstance(texts, list) or not texts or not isinstance(texts[0], dict):
            raise RecordError("field 'texts': expected a non-empty list of {user, assistant} turns")
        turn = texts[0]
        for key in ("user", "assistant"):
            if not isinstance(turn.get(key), str):
                raise RecordError(f"field 'texts': turn 0 has no {key!r} text")
        question, choices = split_choices(turn["user"])
        question = re.sub(r"^\s*Question:\s*", "", question)
        question = re.sub(
            r"\s*Answer with the (option's )?letter.*$", "", question, flags=re.IGNORECASE | re.DOTALL
        )
        answer, answer_type, _ = open_answer(turn["assistant"], choices, "texts")
        images = raw.get(self.image_field)
        if not isinstance(images, list) or not images:
            raise RecordError(f"field {self.image_field!r}: expected a non-empty list of images")
        return EvalDoc(
            id=content_id(self.name, question, "|".join(choices or []), answer),
            question=question.strip(),
            answer=answer,
            answer_type=answer_type,
            choices=choices,
            image=images[0],
            extra={"question_type": str(turn.get("source") or "")},
        )
