"""The decoding loop: one prefill, then one-token forwards on the KV cache, with a cheap nucleus sampler.

This replaces ``model.generate`` in candidate search (evaluation decodes greedily with ``generate``,
whose greedy path pays no sampling cost: `calibrate.generation.generate_texts`). Measured
on 2 CPU cores (docs/performance.md, ``tools/roofline.py``), ``generate``'s sampling spent more
time outside the model than in it: top-p sorted the whole 49k vocabulary of every row at every
step and ``multinomial`` drew one exponential per vocabulary entry. Here the nucleus is found
with ``topk`` over a growing prefix of the vocabulary (exact: the same kept set as
``TopPLogitsWarper``) and the draw is made among the kept tokens only.

Semantics follow ``generate`` with ``top_k=0``: the first ``min_new_tokens`` steps cannot emit
EOS; sampling divides the logits by ``temperature``, keeps the smallest set of tokens whose mass
reaches ``top_p`` and draws from it renormalised; greedy takes the argmax; a row that emitted EOS
(or that ``stop`` marks done) is padded from then on; the loop ends when every row is done or
after ``max_new_tokens``. Log-probs are those of the raw (unprocessed) logits. The draws consume
the global torch RNG differently from ``generate``'s, so sampled candidates differ token for token
from the ``generate`` path while following the same distribution (``tests/test_decode_loop.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

NUCLEUS_PREFIX = 256
"""First vocabulary prefix searched for the nucleus (doubled until it holds it)."""


@dataclass(frozen=True)
class DecodeSettings:
    """How to pick each next token (mirrors the ``generate`` arguments srcal uses)."""

    max_new_tokens: int
    min_new_tokens: int = 0
    do_sample: bool = False
    temperature: float = 1.0
    top_p: float = 1.0


def nucleus_keep(probs: Any, top_p: float, k: int = NUCLEUS_PREFIX) -> tuple[Any, Any, int]:
    """The nucleus of each row of ``probs``: token ids and their probabilities (zero outside it).

    Keeps, in descending order, every token whose mass strictly above it is below ``top_p`` (the
    set ``TopPLogitsWarper`` keeps), searched with ``topk`` over the ``k`` most likely tokens, ``k``
    doubling until every row's kept set ends inside it. Returns ``[rows, k]`` tensors and the ``k``
    used (a good first ``k`` for the next step).
    """
    import torch

    vocab = probs.shape[-1]
    k = min(k, vocab)
    while True:
        values, ids = torch.topk(probs, k, dim=-1, sorted=True)
        above = values.cumsum(-1) - values
        keep = above < top_p
        if k == vocab or not bool(keep[:, -1].any()):
            return ids, values * keep, k
        k = min(2 * k, vocab)


@dataclass
class _Picker:
    """Picks each step's tokens; remembers the nucleus prefix the last step needed."""

    settings: DecodeSettings
    eos_id: int | None
    prefix: int = NUCLEUS_PREFIX

    def __call__(self, logits: Any, step: int) -> tuple[Any, Any]:
        """Next tokens from raw ``logits`` [rows, vocab], and the raw log-probs of the picked tokens."""
        return pick_tokens(logits, step, self.settings, self.eos_id, self)


def pick_tokens(
    logits: Any, step: int, settings: DecodeSettings, eos_id: int | None, state: _Picker | None = None
) -> tuple[Any, Any]:
    """Next tokens from raw ``logits`` [rows, vocab], and the raw log-probs of the picked tokens."""
    import torch

    raw = logits.float()
    logprobs = torch.log_softmax(raw, dim=-1)
    scores = raw
    if step < settings.min_new_tokens and eos_id is not None:
        scores = raw.clone()
        scores[:, eos_id] = -float("inf")
    if settings.do_sample:
        probs = torch.softmax(scores / settings.temperature, dim=-1)
        ids, kept = None, probs
        if settings.top_p < 1.0:
            ids, kept, prefix = nucleus_keep(probs, settings.top_p, state.prefix if state else NUCLEUS_PREFIX)
            if state is not None:
                state.prefix = prefix
        choice = torch.multinomial(kept, 1)
        tokens = (ids.gather(1, choice) if ids is not None else choice).squeeze(1)
    else:
        tokens = scores.argmax(-1)
    return tokens, logprobs.gather(1, tokens[:, None]).squeeze(1)


def decode(
    model: Any,
    ids: Any,
    mask: Any,
    pixels: Any,
    n: int,
    settings: DecodeSettings,
    eos_id: int | None,
    pad_id: int,
    stop: Callable[[Any], Any] | None = None,
) -> tuple[Any, Any]:
    """``n`` continuations of each left-padded row: the new tokens and their raw log-probs, ``[rows*n, t]``.

    The prompt (and its image) is prefilled once, its last position's logits only; the KV cache
    is then repeated ``n`` times (row-major) and decoding runs one token at a time on it. ``stop``
    maps the tokens generated so far to a bool per row (True: that row is done).
    """
    import torch

    position_ids = (mask.cumsum(-1) - 1).masked_fill(mask == 0, 0)
    with torch.inference_mode():
        out = model(
            input_ids=ids,
            attention_mask=mask,
            position_ids=position_ids,
            pixel_values=pixels,
            use_cache=True,
            logits_to_keep=1,
        )
        cache = _cache_of(out)
        logits = out.logits[:, -1]
        positions = position_ids[:, -1:]
        if n > 1:
            cache.batch_repeat_interleave(n)
            logits, mask, positions = (t.repeat_interleave(n, dim=0) for t in (logits, mask, positions))
        done = torch.zeros(logits.shape[0], dtype=torch.bool, device=logits.device)
        tokens: list[Any] = []
        logprobs: list[Any] = []
        pick = _Picker(settings, eos_id)
        for step in range(settings.max_new_tokens):
            token, logprob = pick(logits, step)
            token = token.masked_fill(done, pad_id)
            tokens.append(token)
            logprobs.append(logprob)
            if eos_id is not None:
                done = done | (token == eos_id)
            if stop is not None:
                done = done | stop(torch.stack(tokens, dim=1))
            if bool(done.all()) or step + 1 == settings.max_new_tokens:
                break
            mask = torch.cat([mask, mask.new_ones((mask.shape[0], 1))], dim=1)
            positions = positions + 1
            out = model(
                input_ids=token[:, None],
                attention_mask=mask,
                position_ids=positions,
                cache=cache,
                use_cache=True,
                logits_to_keep=1,
            )
            logits = out.logits[:, -1]
    if not tokens:
        empty = torch.zeros((ids.shape[0] * n, 0))
        return empty.long(), empty
    return torch.stack(tokens, dim=1).cpu(), torch.stack(logprobs, dim=1).cpu()


def _cache_of(output: Any) -> Any:
    cache = getattr(output, "cache", None)
    return cache if cache is not None else output.past_key_values  # older transformers name
