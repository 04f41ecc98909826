"""Readers: the answer a rationale *alone* implies, for rationale-answer consistency.

A reader sees the question (and options) and a response's rationale with its final
answer removed, and says which answer that rationale supports. It never sees the
image, the gold answer or the response's own final answer. Readers are pinned and
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

Statuses of an :class:`ImpliedAnswer`: ``ok``; ``no_rationale`` (the response has no
rationale: a bare answer); ``no_conclusion`` / ``invalid`` (the reader could not name an
answer). Only ``ok`` readings decide ``consistent``.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from benchmarks.parsing import normalize_answer, parse_response
from benchmarks.prompts import format_choices
from benchmarks.registry import Registry

READER_PROMPT_VERSION = 2
READER_SYSTEM = (
    "You read a step-by-step explanation written for a question about an image you cannot see. "
    "Say which answer the explanation leads to, even if the explanation is wrong. "
    "Reply with the answer only."
)

READERS: Registry = Registry("reader")
READERS.register("lm", "harness.readers:LMReader")
READERS.register("conclusion", "harness.readers:ConclusionReader")


@dataclass
class ReaderConfig:
    """Which reader gives the implied answer, and how it runs."""

    name: str = field(default="lm", metadata={"help": "Reader: `lm` (default) or `conclusion` (no model)."})
    backbone: str = field(
        default="smollm2-135m-instruct",
        metadata={"help": "Causal LM of the `lm` reader: zoo name, hub id or directory [ours: R-Scorer's]."},
    )
    max_new_tokens: int = field(default=8, metadata={"help": "Tokens the `lm` reader may write (greedy)."})
    batch_size: int = field(default=16, metadata={"help": "Rationales read per forward batch."})
    dtype: str = field(default="auto", metadata={"help": "Reader dtype: auto, fp32, bf16."})
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
            first = last.split()[0].strip(",.").lower()
            if first in ("yes", "no"):
                return ImpliedAnswer(first, "ok", first)
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
