"""The ``choice`` reader: the stated conclusion, else the likeliest candidate of a closed answer set."""

from __future__ import annotations

import inspect
import json
import re
from pathlib import Path
from typing import Any

from benchmarks.parsing import normalize_answer
from benchmarks.prompts import format_choices
from harness.implied_answer.base import READER_PROMPT_VERSION, ImpliedAnswer, ReaderConfig, ReadQuery
from harness.implied_answer.conclusion import (
    ANSWER_IS,
    NEGATORS,
    STOPWORDS,
    ConclusionReader,
    concluding_clause,
    sentences,
    words,
)
from harness.implied_answer.lm import LMReader, ReadingCache

CHOICE_STEM = "So the answer is"
SHORT_ANSWER_WORDS = 3
_NUMBER_SURFACE = re.compile(r"(?<![\w.])[-−]?\d+(?:,\d{3})*(?:\.\d+)?%?")


def _is_number(text: str) -> bool:
    from benchmarks.parsing import parse_number

    return bool(_NUMBER_SURFACE.fullmatch(text.strip())) and parse_number(text) is not None


def reading_kind(query: ReadQuery) -> str:
    """``choice`` (options), ``yes_no``, ``number`` or ``open`` (generative path)."""
    if query.answer_type == "multiple_choice" and query.choices:
        return "choice"
    if query.answer_type == "yes_no":
        return "yes_no"
    if query.answer_type in ("integer", "float"):
        return "number"
    given = [c for c in query.candidates if c and c.strip()]
    if given and all(_is_number(c) for c in given):
        return "number"  # a text benchmark asking for a value (ChartQA)
    if given and all(len(c.split()) <= SHORT_ANSWER_WORDS for c in given):
        return "words"  # a short text answer: the final and gold answers + the words that conclude
    return "open"


def choice_candidates(query: ReadQuery) -> list[tuple[str, str]]:
    """``(answer, continuation)`` pairs the reader weighs; answers in the benchmark's normal form."""
    from benchmarks.parsing import format_number, parse_number

    kind = reading_kind(query)
    if kind == "choice":
        return [(chr(65 + i), f" {text.strip()}.") for i, text in enumerate(query.choices or [])]
    if kind == "yes_no":
        return [("yes", " yes."), ("no", " no.")]
    if kind == "words":
        asked = set(words(query.question))
        last = concluding_clause(sentences(query.rationale)[-1])
        said = [w for w in words(last) if w not in STOPWORDS and w not in NEGATORS and w not in asked]
        phrases: dict[str, tuple[str, str]] = {}
        for text in [c.strip() for c in query.candidates if c and c.strip()] + said:
            answer = normalize_answer(text, "text")
            if answer and answer not in phrases:
                phrases[answer] = (answer, f" {text}.")
        return list(phrases.values())
    surfaces = _NUMBER_SURFACE.findall(query.rationale) + [c.strip() for c in query.candidates if c]
    out: dict[str, tuple[str, str]] = {}
    for surface in surfaces:
        surface = surface.replace("−", "-").replace(",", "")
        value = parse_number(surface)
        if value is None or not _is_number(surface):
            continue
        percent = surface.endswith("%")
        key = format_number(value) + ("%" if percent and query.answer_type == "text" else "")
        answer = key if query.answer_type == "text" else normalize_answer(surface, query.answer_type)
        if answer is not None and key not in out:
            out[key] = (answer, f" {surface}.")
    return list(out.values())


def choice_prefix(query: ReadQuery, with_rationale: bool = True) -> str:
    """Question, options, rationale and the stem the candidates continue (plain text, no template).

    Without the rationale (``pmi`` scoring's baseline) the explanation is left empty.
    """
    parts = [f"Hint: {query.hint.strip()}"] if query.hint else []
    parts.append(f"Question: {query.question.strip()}")
    if query.choices:
        parts.append(f"Options:\n{format_choices(query.choices)}")
    rationale = query.rationale.strip() if with_rationale else "(none)."
    parts.append(f"Explanation: {rationale} {CHOICE_STEM}")
    return "\n".join(parts)


def continuation_logprobs(model: Any, prefix_ids: list[int], continuations: list[list[int]]) -> list[float]:
    """Summed log-probabilities of each continuation after one shared prefix.

    One forward of the prefix (its KV cache repeated across the candidates), then one batched
    forward of the right-padded continuations; equal to separate forwards of prefix +
    continuation (tested to 1e-4).
    """
    import torch

    device = next(model.parameters()).device
    cache_kwarg = "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"
    with torch.inference_mode():
        prefix = torch.tensor([prefix_ids], device=device)
        out = model(input_ids=prefix, use_cache=True)
        first = torch.log_softmax(out.logits[0, -1].float(), dim=-1)
        n, width = len(continuations), max(len(c) for c in continuations)
        cache = getattr(out, "cache", None) or out.past_key_values
        cache.batch_repeat_interleave(n)
        ids = torch.zeros((n, width), dtype=torch.long, device=device)
        mask = torch.zeros((n, len(prefix_ids) + width), dtype=torch.long, device=device)
        mask[:, : len(prefix_ids)] = 1
        for i, c in enumerate(continuations):
            ids[i, : len(c)] = torch.tensor(c)
            mask[i, len(prefix_ids) : len(prefix_ids) + len(c)] = 1
        positions = torch.arange(len(prefix_ids), len(prefix_ids) + width, device=device).expand(n, -1)
        logits = model(
            input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=True, **{cache_kwarg: cache}
        ).logits
        logp = torch.log_softmax(logits.float(), dim=-1)
    scores = []
    for i, c in enumerate(continuations):
        total = float(first[c[0]])
        for j in range(1, len(c)):
            total += float(logp[i, j - 1, c[j]])
        scores.append(total)
    return scores


class ChoiceReader:
    """Explicit conclusion first; else the most likely candidate of a closed answer set (see module doc)."""

    TIE_TOLERANCE = 1e-6

    def __init__(self, cfg: ReaderConfig | None = None) -> None:
        from benchmarks.fileio import srcal_home

        self.cfg = cfg or ReaderConfig(name="choice")
        self.conclusion = ConclusionReader(self.cfg)
        self.lm = LMReader(self.cfg)  # the same backbone; loaded on first use only
        cache_dir = Path(self.cfg.cache_dir) if self.cfg.cache_dir else srcal_home() / "cache" / "readers"
        scores_identity = {
            k: v for k, v in self.identity().items() if k not in ("choice_scoring", "min_confidence")
        }
        self.cache = ReadingCache(cache_dir, {**scores_identity, "kind": "choice-scores"})
        self.forwards = 0

    def identity(self) -> dict[str, Any]:
        return {
            **self.lm.identity(),
            "reader": "choice",
            "stem": CHOICE_STEM,
            "choice_scoring": self.cfg.choice_scoring,
            "min_confidence": self.cfg.min_confidence,
            "conclusion_version": READER_PROMPT_VERSION,
        }

    def read(self, queries: list[ReadQuery]) -> list[ImpliedAnswer]:
        out: list[ImpliedAnswer | None] = [None] * len(queries)
        open_ones: list[int] = []
        for i, query in enumerate(queries):
            if not query.rationale.strip():
                out[i] = ImpliedAnswer(None, "no_rationale")
                continue
            kind = reading_kind(query)
            stated = self._stated(query, kind)
            if stated is not None:
                out[i] = stated
            elif kind == "open":
                open_ones.append(i)
            else:
                out[i] = self.read_choice(query)
        if open_ones:
            for i, reading in zip(open_ones, self.lm.read([queries[i] for i in open_ones])):
                out[i] = reading
        return [o for o in out if o is not None]

    def _stated(self, query: ReadQuery, kind: str) -> ImpliedAnswer | None:
        """The rationale's own explicit conclusion, read programmatically."""
        if kind == "number" and query.answer_type == "text":
            stated = ANSWER_IS.findall(query.rationale)
            numbers = _NUMBER_SURFACE.findall(stated[-1]) if stated else []
            return ImpliedAnswer(numbers[0], "ok", stated[-1].strip()) if numbers else None
        reading = self.conclusion.read_one(query)
        if reading.status != "ok":
            return None
        if kind == "words" and reading.answer is not None:
            # a stated phrase ("a small yellow square") that names exactly one candidate answer
            named = {
                a
                for c in query.candidates
                if (a := normalize_answer(c, "text")) and re.search(rf"\b{re.escape(a)}\b", reading.answer)
            }
            if len(named) == 1:
                return ImpliedAnswer(named.pop(), "ok", reading.raw)
            if named:
                return None
        return reading

    def read_choice(self, query: ReadQuery) -> ImpliedAnswer:
        """The candidate with the highest summed log-probability after the shared prefix."""
        candidates = choice_candidates(query)
        if not candidates:
            return ImpliedAnswer(None, "no_candidates")
        if len(candidates) == 1:
            answer, text = candidates[0]
            stated = text.strip(" .") in query.rationale
            return ImpliedAnswer(
                answer if stated else None, "ok" if stated else "no_candidates", text.strip()
            )
        scores = self.scores(query, [c for _, c in candidates])
        return self.decide([a for a, _ in candidates], scores)

    def decide(self, answers: list[str], scores: list[float]) -> ImpliedAnswer:
        """Highest score wins; a tie (within TIE_TOLERANCE) or a winner under ``min_confidence`` is undecided."""
        import math

        order = sorted(range(len(scores)), key=lambda i: -scores[i])
        best, second = order[0], order[1]
        top = max(scores)
        probs = [math.exp(x - top) for x in scores]
        confidence = probs[best] / sum(probs)
        raw = json.dumps({a: round(x, 4) for a, x in zip(answers, scores)})
        if scores[best] - scores[second] <= self.TIE_TOLERANCE:
            return ImpliedAnswer(None, "tie", raw)
        if confidence < self.cfg.min_confidence:
            return ImpliedAnswer(None, "unsure", raw)
        return ImpliedAnswer(answers[best], "ok", raw)

    def scores(self, query: ReadQuery, continuations: list[str]) -> list[float]:
        """Each continuation's score: its log-probability after the rationale (``pmi``: minus without it)."""
        scores = self._logprobs(choice_prefix(query), continuations)
        if self.cfg.choice_scoring == "pmi":
            prior = self._logprobs(choice_prefix(query, with_rationale=False), continuations)
            scores = [a - b for a, b in zip(scores, prior)]
        elif self.cfg.choice_scoring == "mean":
            tokenizer = self.lm._model().processor
            lengths = [len(tokenizer(c, add_special_tokens=False)["input_ids"]) for c in continuations]
            scores = [a / n for a, n in zip(scores, lengths)]
        elif self.cfg.choice_scoring != "sum":
            raise ValueError(f"choice_scoring: {self.cfg.choice_scoring!r} is not one of sum, mean, pmi")
        return scores

    def _logprobs(self, prefix: str, continuations: list[str]) -> list[float]:
        key = json.dumps([prefix, continuations])
        cached = self.cache.get(key)
        if cached is not None:
            return json.loads(cached)
        loaded = self.lm._model()
        tokenizer = loaded.processor
        prefix_ids = tokenizer(prefix, add_special_tokens=False)["input_ids"]
        cont_ids = [tokenizer(c, add_special_tokens=False)["input_ids"] for c in continuations]
        scores = continuation_logprobs(loaded.model, prefix_ids, cont_ids)
        self.forwards += 2
        self.cache.put({key: json.dumps(scores)})
        return scores
