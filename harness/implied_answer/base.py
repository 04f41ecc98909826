"""What every implied-answer reader shares: its config, what it sees, what it returns, the registry."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from benchmarks.prompts import format_choices
from benchmarks.registry import Registry

READER_PROMPT_VERSION = 3
READER_SYSTEM = (
    "You read a step-by-step explanation written for a question about an image you cannot see. "
    "Say which answer the explanation leads to, even if the explanation is wrong. "
    "Reply with the answer only."
)

READERS: Registry = Registry("reader")
READERS.register("lm", "harness.implied_answer.lm:LMReader")
READERS.register("conclusion", "harness.implied_answer.conclusion:ConclusionReader")
READERS.register("choice", "harness.implied_answer.choice:ChoiceReader")
READERS.register("endpoint", "harness.implied_answer.endpoint:EndpointReader")


@dataclass
class ReaderConfig:
    """Which reader gives the implied answer, and how it runs."""

    name: str = field(
        default="choice",
        metadata={
            "help": "Reader: `choice` (default: best measured validity, docs/metrics.md), `conclusion` "
            "(no model), `lm` (generative) or `endpoint` (a served model: see `endpoint`)."
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
    endpoint: dict[str, Any] | None = field(
        default=None,
        metadata={
            "help": "`endpoint` reader: the served model, as `benchmarks.endpoint.EndpointConfig` fields "
            "({base_url, model, api_key_env, concurrency, ...}); the key itself stays in the environment."
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
