"""Decoding for candidate search: batched continuations from a shared prefill, and sentence-level search.

- :func:`generate_rows` continues each token row ``n`` times in one left-padded batch: the row is
  prefilled once and its KV cache repeated ``n`` times, with the log-probs of the generated
  tokens from the raw logits.
- :func:`sample_responses` samples ``n`` responses per prompt (the ``sampling`` strategy).
- :func:`sentence_search` grows partial responses one sentence at a time, keeping both high- and
  low-likelihood branches (the ``sentence_search`` strategy; see :mod:`calibrate.candidates`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from calibrate.config import CandidateConfig
from calibrate.decode_loop import DecodeSettings, decode
from calibrate.generation import chat_prompt

SENTENCE_END = re.compile(r"[.!?](?:\n|(?=\s))|\n")
"""A sentence ends after ``.``, ``!`` or ``?`` followed by whitespace (a following newline is
part of it), or after a newline. Leading whitespace never ends a sentence (see `sentence_end`)."""
ANSWER_LINE = re.compile(r"(?:final\s+answer|answer)\s*\**\s*[:：][ \t*]*[^\s*]", re.IGNORECASE)
"""A partial response holding ``Answer: <something>`` is finished."""


@dataclass
class Generated:
    """One generated continuation: its tokens, their log-probs under the policy, and why it stopped.

    ``stop`` is ``eos`` (the last token is EOS), ``sentence`` (the sentence stopping criterion fired)
    or ``length`` (the token budget ran out).
    """

    tokens: list[int]
    logprobs: list[float]
    stop: str


@dataclass
class _Partial:
    """A (partial) response of sentence search."""

    tokens: list[int] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)
    sentences: int = 0
    finish: str | None = None

    @property
    def score(self) -> float:
        return sum(self.logprobs) / len(self.logprobs) if self.logprobs else 0.0


@dataclass
class _Response:
    tokens: list[int]
    logprobs: list[float]
    extra: dict[str, Any] = field(default_factory=dict)


# ----------------------------------------------------------------------------- batched generation


def _device_dtype(model: Any) -> tuple[Any, Any]:
    param = next(model.parameters())
    return param.device, param.dtype


def encode_prompt(processor: Any, image: Any, text: str) -> tuple[list[int], Any]:
    """Token ids (image placeholder expanded) and pixel values of one chat prompt for ``text``."""
    inputs = processor(images=[image], text=[chat_prompt(processor, text)], return_tensors="pt")
    return inputs["input_ids"][0].tolist(), inputs["pixel_values"][0]


def _left_pad(rows: Sequence[Sequence[int]], pad_id: int) -> tuple[Any, Any]:
    import torch

    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        if row:
            ids[i, width - len(row) :] = torch.tensor(list(row), dtype=torch.long)
            mask[i, width - len(row) :] = 1
    return ids, mask


class _SentenceStop:
    """Stop test of :func:`calibrate.decode_loop.decode`: a row is done at its first sentence end.

    Records each row's length at that point (``stop_len``).
    """

    def __init__(self, tokenizer: Any, rows: int) -> None:
        self.tokenizer = tokenizer
        self.stop_len = [0] * rows

    def __call__(self, new: Any) -> Any:
        import torch

        texts = self.tokenizer.batch_decode(new, skip_special_tokens=True)
        done = [sentence_end(t) is not None for t in texts]
        for row, hit in enumerate(done):
            if hit and not self.stop_len[row]:
                self.stop_len[row] = new.shape[1]
        return torch.tensor(done, dtype=torch.bool, device=new.device)


def generate_rows(
    model: Any,
    tokenizer: Any,
    rows: Sequence[Sequence[int]],
    pixel_values: Sequence[Any],
    n: int,
    *,
    max_new_tokens: int,
    do_sample: bool,
    temperature: float = 1.0,
    top_p: float = 1.0,
    min_new_tokens: int = 0,
    stop_at_sentence: bool = False,
) -> tuple[list[Generated], int]:
    """``n`` continuations of each token row (one image each), in one left-padded batch.

    Each row is prefilled once, the KV cache is repeated ``n`` times and
    :func:`calibrate.decode_loop.decode` decodes the ``len(rows) * n`` continuations from it (so the
    prompt and its image are encoded once, not ``n`` times). Returns the continuations
    (row-major: row ``r``'s ``j``-th is at ``r * n + j``), trimmed after EOS or the sentence end, with
    the log-probs of their tokens from the raw logits; and the number of tokens generated.
    """
    import torch

    device, dtype = _device_dtype(model)
    if not do_sample and n > 1:  # greedy continuations are identical: decode once, repeat
        once, tokens = generate_rows(
            model,
            tokenizer,
            rows,
            pixel_values,
            1,
            max_new_tokens=max_new_tokens,
            do_sample=False,
            min_new_tokens=min_new_tokens,
            stop_at_sentence=stop_at_sentence,
        )
        return [g for g in once for _ in range(n)], tokens * n
    eos_id, pad_id = tokenizer.eos_token_id, tokenizer.pad_token_id
    ids, mask = _left_pad(rows, pad_id)
    pixels = torch.stack(list(pixel_values)).to(device=device, dtype=dtype)
    settings = DecodeSettings(
        max_new_tokens=max_new_tokens,
        min_new_tokens=min_new_tokens,
        do_sample=do_sample,
        temperature=temperature,
        top_p=top_p,
    )
    stop = _SentenceStop(tokenizer, len(rows) * n) if stop_at_sentence else None
    new, logprobs = decode(model, ids.to(device), mask.to(device), pixels, n, settings, eos_id, pad_id, stop)
    return _trim(new, logprobs, stop, eos_id)


def _trim(new: Any, logprobs: Any, stop: _SentenceStop | None, eos_id: int) -> tuple[list[Generated], int]:
    """Each generated row cut after its sentence end or EOS, with its log-probs; and the tokens kept."""
    results: list[Generated] = []
    total = 0
    for r in range(new.shape[0]):
        tokens = new[r].tolist()
        length, reason = len(tokens), "length"
        if stop is not None and stop.stop_len[r]:
            length, reason = stop.stop_len[r], "sentence"
        if eos_id in tokens[:length]:
            length, reason = tokens.index(eos_id) + 1, "eos"
        total += length
        results.append(Generated(tokens[:length], logprobs[r, :length].tolist(), reason))
    return results, total


def sample_responses(
    model: Any,
    processor: Any,
    images: Sequence[Any],
    prompts: Sequence[str],
    n: int,
    *,
    temperature: float,
    top_p: float,
    max_new_tokens: int,
    batch_size: int,
    min_new_tokens: int = 0,
) -> tuple[list[list[Generated]], int]:
    """``n`` sampled responses to each chat prompt (user text + image), ``batch_size`` prompts per batch.

    ``temperature <= 0`` decodes greedily. Returns the responses per prompt and the tokens generated.
    """
    tokenizer = processor.tokenizer
    encoded = [encode_prompt(processor, image, text) for image, text in zip(images, prompts)]
    out: list[list[Generated]] = []
    total = 0
    for start in range(0, len(encoded), batch_size):
        chunk = encoded[start : start + batch_size]
        generated, tokens = generate_rows(
            model,
            tokenizer,
            [ids for ids, _ in chunk],
            [pixels for _, pixels in chunk],
            n,
            max_new_tokens=max_new_tokens,
            min_new_tokens=min_new_tokens,
            do_sample=temperature > 0,
            temperature=temperature,
            top_p=top_p,
        )
        total += tokens
        out.extend(generated[i * n : (i + 1) * n] for i in range(len(chunk)))
    return out, total


# ----------------------------------------------------------------------------- sentence search


def sentence_end(text: str) -> int | None:
    """End offset of the first sentence of ``text`` (after any leading whitespace), None if it has none."""
    match = SENTENCE_END.search(text, len(text) - len(text.lstrip()))
    return match.end() if match else None


def sentence_cut(tokenizer: Any, tokens: Sequence[int]) -> int | None:
    """The number of leading ``tokens`` that make up the first complete sentence (None: no sentence end)."""
    end = sentence_end(tokenizer.decode(tokens, skip_special_tokens=True))
    if end is None:
        return None
    cut = len(tokens)  # the stopping criterion fires at the sentence end: search back from the end
    while cut > 1 and len(tokenizer.decode(tokens[: cut - 1], skip_special_tokens=True)) >= end:
        cut -= 1
    return cut


def diverse_order(scores: Sequence[float]) -> list[int]:
    """Indices alternating best, worst, second best, second worst, ... (ties by index).

    The first ``k`` are the ``ceil(k/2)`` best and the ``floor(k/2)`` worst.
    """
    ranked = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
    order: list[int] = []
    lo, hi = 0, len(ranked) - 1
    while lo <= hi:
        order.append(ranked[lo])
        lo += 1
        if lo <= hi:
            order.append(ranked[hi])
            hi -= 1
    return order


def normalise_text(text: str) -> str:
    return " ".join(text.split())


def sentence_search(
    model: Any,
    processor: Any,
    images: Sequence[Any],
    prompts: Sequence[str],
    cfg: CandidateConfig,
) -> tuple[list[list[_Response]], int]:
    """Sentence-level search (see the module docstring) for a batch of prompts.

    Returns per prompt its finished responses in the order found (duplicates included, up to
    ``num_candidates`` distinct ones) and the number of tokens generated.
    """
    tokenizer = processor.tokenizer
    eos_id = tokenizer.eos_token_id
    budget = cfg.max_new_tokens
    encoded = [encode_prompt(processor, image, text) for image, text in zip(images, prompts)]
    active: list[list[_Partial]] = [[_Partial()] for _ in encoded]
    found: list[list[_Partial]] = [[] for _ in encoded]
    seen: list[set[str]] = [set() for _ in encoded]
    total = 0

    def text_of(p: _Partial) -> str:
        return tokenizer.decode(p.tokens, skip_special_tokens=True).strip()

    def add_found(item: int, partials: list[_Partial]) -> None:
        for p in partials:
            if len(seen[item]) >= cfg.num_candidates:
                return
            found[item].append(p)
            seen[item].add(normalise_text(text_of(p)))

    def run(
        rows: list[tuple[int, _Partial]], n: int, do_sample: bool, stop_at_sentence: bool
    ) -> list[list[Generated]]:
        nonlocal total
        out: list[list[Generated]] = []
        for start in range(0, len(rows), cfg.batch_size):
            chunk = rows[start : start + cfg.batch_size]
            generated, tokens = generate_rows(
                model,
                tokenizer,
                [encoded[i][0] + p.tokens for i, p in chunk],
                [encoded[i][1] for i, _ in chunk],
                n,
                max_new_tokens=max(budget - len(p.tokens) for _, p in chunk),
                do_sample=do_sample,
                temperature=cfg.temperature,
                top_p=cfg.top_p,
                stop_at_sentence=stop_at_sentence,
            )
            total += tokens
            out.extend(generated[k * n : (k + 1) * n] for k in range(len(chunk)))
        return out

    for _step in range(cfg.max_sentences):
        rows = [(i, p) for i, partials in enumerate(active) for p in partials]
        if not rows:
            break
        extensions: list[list[_Partial]] = [[] for _ in encoded]
        for (i, parent), continuations in zip(rows, run(rows, cfg.sentence_beams, cfg.temperature > 0, True)):
            for g in continuations:
                extensions[i].append(_extend(tokenizer, parent, g, budget, eos_id))
        for i, extended in enumerate(extensions):
            if extended:
                active[i] = _keep(extended, lambda ps, i=i: add_found(i, ps), lambda i=i: len(seen[i]), cfg)

    rows = [(i, p) for i, partials in enumerate(active) for p in partials]
    if rows:
        for (i, parent), (g,) in zip(rows, run(rows, 1, False, False)):
            add_found(i, [_finish_greedily(parent, g, budget, eos_id)])
    responses = [
        [_Response(p.tokens, p.logprobs, {"sentences": p.sentences, "finish": p.finish}) for p in ps]
        for ps in found
    ]
    return responses, total


def _keep(
    extended: list[_Partial],
    add_found: Callable[[list[_Partial]], None],
    distinct: Callable[[], int],
    cfg: CandidateConfig,
) -> list[_Partial]:
    """One item's step: finished partials are found (diverse order); the open ones that survive."""
    finished = [p for p in extended if p.finish]
    order = diverse_order([p.score for p in finished])
    add_found([finished[k] for k in order])
    open_ = _unique_partials([p for p in extended if not p.finish])
    order = diverse_order([p.score for p in open_])
    full = distinct() >= cfg.num_candidates
    return [] if full else [open_[k] for k in order[: cfg.sentence_keep]]


def _finish_greedily(parent: _Partial, g: Generated, budget: int, eos_id: int) -> _Partial:
    """``parent`` completed by its greedy continuation ``g``, cut at the token budget."""
    tokens = g.tokens[: budget - len(parent.tokens)]
    finish = "greedy" if eos_id in tokens else "budget"
    return _Partial(
        parent.tokens + tokens, parent.logprobs + g.logprobs[: len(tokens)], parent.sentences + 1, finish
    )


def _extend(tokenizer: Any, parent: _Partial, g: Generated, budget: int, eos_id: int) -> _Partial:
    """``parent`` grown by the first sentence of ``g`` (or all of it at EOS), marked finished if it is."""
    room = budget - len(parent.tokens)
    tokens = g.tokens[:room]
    finish: str | None = None
    if eos_id in tokens:
        tokens, finish = tokens[: tokens.index(eos_id) + 1], "eos"
    else:
        cut = sentence_cut(tokenizer, tokens)
        if cut is None:
            finish = "budget"
        else:
            tokens = tokens[:cut]
    grown = _Partial(
        parent.tokens + tokens, parent.logprobs + g.logprobs[: len(tokens)], parent.sentences + 1
    )
    if finish is None and ANSWER_LINE.search(tokenizer.decode(grown.tokens, skip_special_tokens=True)):
        finish = "answer"
    if finish is None and len(grown.tokens) >= budget:
        finish = "budget"
    grown.finish = finish
    return grown


def _unique_partials(partials: list[_Partial]) -> list[_Partial]:
    seen: set[tuple[int, ...]] = set()
    out = []
    for p in partials:
        key = tuple(p.tokens)
        if key not in seen:
            seen.add(key)
            out.append(p)
    return out
