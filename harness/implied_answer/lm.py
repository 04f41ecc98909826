"""The ``lm`` reader: a causal LM asked which answer a rationale leads to (greedy, batched, cached)."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

from benchmarks.parsing import parse_response
from harness.implied_answer.base import (
    READER_PROMPT_VERSION,
    READER_SYSTEM,
    ImpliedAnswer,
    ReaderConfig,
    ReadQuery,
    reader_text,
)
from harness.implied_answer.conclusion import LAST_IS, NUMBER

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
        numbers = NUMBER.findall(first)
        return numbers[-1] if numbers else first
    if answer_type != "text" or len(first.split()) <= 2:
        return first
    first = _LEADS_TO.sub("", first).strip()
    tail = LAST_IS.search(first)
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
            # away from its default only, so that readings and hashes made before it stand
            **({"dtype": self.cfg.dtype} if self.cfg.dtype != "auto" else {}),
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
