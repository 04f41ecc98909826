"""Readers: the answer a rationale *alone* implies, for rationale-answer consistency.

A reader sees the question (and options) and a response's rationale with its final
answer removed, and says which answer that rationale supports. It never sees the
image. The closed-set ``choice`` reader also weighs the final and gold answers as
*candidates* among the numbers the rationale states (unlabelled: it is not told which is
which), as lm-evaluation-harness scores multiple-choice continuations. Readers are pinned and
cached: the same (reader, question, rationale) is read once, and the reader's identity
(backbone hash, prompt version, settings) is recorded in every metrics file.

Registered readers (``READERS``):
    ``lm``          a causal LM (default: SmolLM2-135M-Instruct, the R-Scorer's backbone)
                    prompted with question + rationale, greedy; its reply is parsed with
                    the benchmark's own parser. Works on any benchmark.
    ``conclusion``  programmatic, no model: the conclusion the rationale states itself
                    ("the answer is X", "that is option B", the number its last sentence
                    ends on, the value after its last "is"). When the rationale states no
                    conclusion of the question's type it says so (``no_conclusion``);
                    it never guesses.
    ``choice``      the rationale's explicit conclusion (as ``conclusion``) when it states
                    one; else, where the answer set is closed (options, yes/no, numbers:
                    the numbers the rationale states plus the final and gold answers), the
                    candidate a causal LM finds most likely after question + rationale +
                    "So the answer is" (one forward of the shared prefix, one batched
                    forward of the candidates, no sampling); open answers go to ``lm``.
                    ``tie`` / ``unsure`` when the best candidates tie or the winner's
                    probability is under ``min_confidence``.

Statuses of an :class:`ImpliedAnswer`: ``ok``; ``no_rationale`` (the response has no
rationale: a bare answer); ``no_conclusion`` / ``invalid`` (the reader could not name an
answer); ``tie`` / ``unsure`` / ``no_candidates`` (``choice``: no clear candidate). Only
``ok`` readings decide ``consistent``.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from benchmarks.parsing import normalize_answer, parse_response
from benchmarks.prompts import format_choices
from benchmarks.registry import Registry

READER_PROMPT_VERSION = 3
READER_SYSTEM = (
    "You read a step-by-step explanation written for a question about an image you cannot see. "
    "Say which answer the explanation leads to, even if the explanation is wrong. "
    "Reply with the answer only."
)

READERS: Registry = Registry("reader")
READERS.register("lm", "harness.readers:LMReader")
READERS.register("conclusion", "harness.readers:ConclusionReader")
READERS.register("choice", "harness.readers:ChoiceReader")


@dataclass
class ReaderConfig:
    """Which reader gives the implied answer, and how it runs."""

    name: str = field(
        default="choice",
        metadata={
            "help": "Reader: `choice` (default: best measured validity, docs/metrics.md), `conclusion` "
            "(no model) or `lm` (generative)."
        },
    )
    backbone: str = field(
        default="smollm2-135m-instruct",
        metadata={"help": "Causal LM of the `lm` reader: zoo name, hub id or directory [ours: R-Scorer's]."},
    )
    max_new_tokens: int = field(default=8, metadata={"help": "Tokens the `lm` reader may write (greedy)."})
    batch_size: int = field(default=16, metadata={"help": "Rationales read per forward batch."})
    dtype: str = field(default="auto", metadata={"help": "Reader dtype: auto, fp32, bf16."})
    choice_scoring: str = field(
        default="sum",
        metadata={
            "help": "`choice` reader: `sum` (candidate log-probability after the rationale), `mean` (per "
            "token) or `pmi` (minus its log-probability after the same prompt without the rationale)."
        },
    )
    min_confidence: float = field(
        default=0.0,
        metadata={
            "help": "`choice` reader: least probability (softmax over the candidates' scores) of the "
            "chosen candidate; below it the reading is `unsure` (undecided)."
        },
    )
    cache_dir: str | None = field(
        default=None, metadata={"help": "Reading cache directory (None: $SRCAL_HOME/cache/readers)."}
    )


@dataclass
class ReadQuery:
    """What a reader sees: the question and a rationale, never the image or any answer."""

    question: str
    answer_type: str
    rationale: str
    choices: list[str] | None = None
    hint: str | None = None
    candidates: list[str] = field(default_factory=list)
    """Further answers a closed-set reader weighs (the response's final answer and the gold answer);
    they are candidates only, never a reading by themselves."""


@dataclass
class ImpliedAnswer:
    answer: str | None
    status: str
    raw: str | None = None


class Reader(Protocol):
    def identity(self) -> dict[str, Any]: ...

    def read(self, queries: list[ReadQuery]) -> list[ImpliedAnswer]: ...


def reader_text(query: ReadQuery) -> str:
    """The reader's user message for ``query``."""
    parts = [f"Hint: {query.hint.strip()}"] if query.hint else []
    parts.append(f"Question: {query.question.strip()}")
    if query.choices:
        parts.append(f"Options:\n{format_choices(query.choices)}")
        parts.append("Reply with the option's letter.")
    parts.append(f"Explanation: {query.rationale.strip()}")
    return "\n".join(parts)


def make_reader(cfg: ReaderConfig) -> Reader:
    return READERS.get(cfg.name)(cfg)


# ----------------------------------------------------------------------------- conclusion


_OPTION = re.compile(r"\boption\s*\(?([A-J])\)?(?![A-Za-z])")
_ANSWER_IS = re.compile(r"\banswer\s+(?:is|would be|should be)\s*:?\s*([^.\n]+)", re.IGNORECASE)
_NUMBER = re.compile(r"[-−]?\d+(?:,\d{3})*(?:\.\d+)?")
_LAST_IS = re.compile(r"\b(?:is|are)\s+(?:a |an |the )?([A-Za-z][\w\- ]{0,30}?)\s*[.,;]?\s*$", re.IGNORECASE)


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in re.split(r"(?<=[.!?])\s+|\n+", text) if s.strip()]


_STOPWORDS = frozenset(
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
_NEGATORS = frozenset({"not", "no", "never", "none", "nothing", "neither", "nor", "cannot", "without"})
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


def _words(text: str) -> list[str]:
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
    asked = [w for w in _words(re.sub(r"\([^)]*\)", " ", question)) if w not in _STOPWORDS]
    clause = _words(concluding_clause(sentence))
    q_neg = sum(1 for w in asked if w in _NEGATORS or w.endswith("n't"))
    q_content = {_stem(w) for w in asked if w not in _NEGATORS}
    c_neg = sum(1 for w in clause if w in _NEGATORS or w.endswith("n't"))
    c_content = {_stem(w) for w in clause if w not in _STOPWORDS and w not in _NEGATORS}
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

        stated = _ANSWER_IS.findall(text)
        if stated and (found := norm(stated[-1])):
            return found
        if kind == "multiple_choice":
            letters = _OPTION.findall(text)
            if letters and choices and ord(letters[-1]) - 65 < len(choices):
                return ImpliedAnswer(letters[-1], "ok", f"option {letters[-1]}")
        last = _sentences(text)[-1]
        if kind in ("integer", "float"):
            numbers = _NUMBER.findall(last)
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
            tail = _LAST_IS.search(last)
            if tail and (found := norm(tail.group(1))):
                return found
        return ImpliedAnswer(None, "no_conclusion")


# ----------------------------------------------------------------------------- LM reader


_LEADS_TO = re.compile(
    r"^(?:(?:the\s+)?(?:explanation|reasoning|answer)\s+(?:leads\s+to|is|would\s+be)|it\s+is)\s*:?\s*",
    re.IGNORECASE,
)


def core_answer(reply: str, answer_type: str) -> str:
    """The answer inside a reader's reply sentence ("The explanation leads to blue." -> "blue").

    Only the reply's first sentence counts. Numbers: its last number ("The digit 4 appears 2
    times." -> "2"); short text: the value after its last "is"; letters and yes/no are left to
    the benchmark's parser.
    """
    first = re.split(r"(?<=[.!?])\s", reply.strip(), maxsplit=1)[0].strip()
    if answer_type in ("integer", "float"):
        numbers = _NUMBER.findall(first)
        return numbers[-1] if numbers else first
    if answer_type != "text" or len(first.split()) <= 2:
        return first
    first = _LEADS_TO.sub("", first).strip()
    tail = _LAST_IS.search(first)
    return tail.group(1) if tail else first.rstrip(".")


class ReadingCache:
    """Readings of one reader identity, appended to a JSONL file keyed by the prompt's hash."""

    def __init__(self, directory: Path, identity: dict[str, Any]) -> None:
        from calibrate.artifacts import ItemLog

        digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]
        self.log = ItemLog(directory / f"{digest}.jsonl", key="key")

    @staticmethod
    def key(text: str) -> str:
        return hashlib.sha256(text.encode()).hexdigest()

    def get(self, text: str) -> str | None:
        record = self.log.records.get(self.key(text))
        return None if record is None else record["reply"]

    def put(self, replies: dict[str, str]) -> None:
        self.log.append({"key": self.key(t), "reply": r} for t, r in replies.items())


class LMReader:
    """A text-only causal LM asked which answer a rationale leads to (greedy, batched, cached)."""

    def __init__(self, cfg: ReaderConfig) -> None:
        from benchmarks.fileio import srcal_home
        from calibrate.models import base_hash
        from calibrate.zoo.names import resolve_model

        self.cfg = cfg
        self.path = resolve_model(cfg.backbone)
        local = Path(self.path)
        self.backbone_hash = base_hash(local) if local.is_dir() else self.path
        self._loaded: Any = None
        cache_dir = Path(cfg.cache_dir) if cfg.cache_dir else srcal_home() / "cache" / "readers"
        self.cache = ReadingCache(cache_dir, self.identity())
        self.calls = 0

    def identity(self) -> dict[str, Any]:
        return {
            "reader": "lm",
            "backbone": self.cfg.backbone,
            "backbone_hash": self.backbone_hash,
            "max_new_tokens": self.cfg.max_new_tokens,
            "prompt_version": READER_PROMPT_VERSION,
            "system": READER_SYSTEM,
        }

    def _model(self) -> Any:
        if self._loaded is None:
            from calibrate.models import load_model

            self._loaded = load_model(self.path, dtype=self.cfg.dtype)
        return self._loaded

    def prompt(self, query: ReadQuery) -> str:
        tokenizer = self._model().processor
        user = reader_text(query)
        if getattr(tokenizer, "chat_template", None):
            messages = [{"role": "system", "content": READER_SYSTEM}, {"role": "user", "content": user}]
            text = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        else:
            text = f"{READER_SYSTEM}\n\n{user}\n"
        return text + "Answer:"

    def read(self, queries: list[ReadQuery]) -> list[ImpliedAnswer]:
        out: list[ImpliedAnswer | None] = [None] * len(queries)
        prompts: dict[int, str] = {}
        for i, query in enumerate(queries):
            if not query.rationale.strip():
                out[i] = ImpliedAnswer(None, "no_rationale")
            else:
                prompts[i] = self.prompt(query)
        missing = sorted({p for p in prompts.values() if self.cache.get(p) is None})
        if missing:
            self.cache.put(dict(zip(missing, self._generate(missing))))
        for i, text in prompts.items():
            reply = self.cache.get(text) or ""
            query = queries[i]
            parsed = parse_response(
                f"Answer: {core_answer(reply, query.answer_type)}", query.answer_type, query.choices
            )
            status = "ok" if parsed.final_answer is not None else "invalid"
            out[i] = ImpliedAnswer(parsed.final_answer, status, reply)
        return [o for o in out if o is not None]

    def _generate(self, prompts: list[str]) -> list[str]:
        import torch

        loaded = self._model()
        tokenizer, model = loaded.processor, loaded.model
        tokenizer.padding_side = "left"
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        replies: list[str] = []
        for start in range(0, len(prompts), self.cfg.batch_size):
            chunk = prompts[start : start + self.cfg.batch_size]
            batch = tokenizer(chunk, return_tensors="pt", padding=True, add_special_tokens=False).to(
                loaded.device
            )
            with torch.inference_mode():
                generated = model.generate(
                    **batch, do_sample=False, max_new_tokens=self.cfg.max_new_tokens, pad_token_id=pad
                )
            new = generated[:, batch["input_ids"].shape[1] :]
            texts = tokenizer.batch_decode(new, skip_special_tokens=True)
            replies.extend(t.strip().split("\n", 1)[0].strip() for t in texts)
            self.calls += 1
        return replies


# ----------------------------------------------------------------------------- choice reader


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
        asked = set(_words(query.question))
        last = concluding_clause(_sentences(query.rationale)[-1])
        said = [w for w in _words(last) if w not in _STOPWORDS and w not in _NEGATORS and w not in asked]
        words: dict[str, tuple[str, str]] = {}
        for text in [c.strip() for c in query.candidates if c and c.strip()] + said:
            answer = normalize_answer(text, "text")
            if answer and answer not in words:
                words[answer] = (answer, f" {text}.")
        return list(words.values())
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
            stated = _ANSWER_IS.findall(query.rationale)
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
