"""Off-the-shelf ``generate`` baselines of the candidate benchmarks, and checks of what they produced.

:func:`generate_path` is the strongest path transformers offers without srcal's code: the prompts
in one left-padded batch and one ``model.generate(num_return_sequences=n)`` call, which expands
the batch ``n`` times before the prefill (each prompt and its image are encoded ``n`` times).
``tools.roofline.generate_baseline`` is the same call after a shared prefill (each prompt encoded
once, its KV cache repeated ``n`` times): the difference between the two is what the shared
prefill alone gives.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch


def generate_path(
    model: Any,
    tokenizer: Any,
    rows: Sequence[Sequence[int]],
    pixel_values: Sequence[Any],
    n: int,
    **sampling: Any,
) -> tuple[Any, Any]:
    """``n`` continuations of each token row (one image each) from one ``generate(num_return_sequences=n)``.

    ``sampling``: ``max_new_tokens``, ``min_new_tokens``, ``temperature``, ``top_p`` (``top_k=0``,
    as srcal samples), or ``do_sample=False`` for greedy. Returns (new tokens ``[rows * n, T]``,
    row-major like :func:`calibrate.decoding.generate_rows`; the raw logits' log-probs of them).
    """
    from calibrate.decoding import _left_pad

    ids, mask = _left_pad(rows, tokenizer.pad_token_id)
    pixels = torch.stack(list(pixel_values)).to(next(model.parameters()).dtype)
    with torch.inference_mode():
        out = model.generate(
            input_ids=ids,
            attention_mask=mask,
            pixel_values=pixels,
            num_return_sequences=n,
            **({"do_sample": True, "top_k": 0} if sampling.get("do_sample", True) else {}),
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
            return_dict_in_generate=True,
            output_logits=True,
            **sampling,
        )
        new = out.sequences[:, ids.shape[1] :]
        logits = torch.stack(out.logits, dim=1).float().log_softmax(-1)
        logprobs = logits.gather(2, new[..., None]).squeeze(-1)
    return new, logprobs


def check_samples(new: Any, logprobs: Any, rows: int, tokens: int, vocab: int) -> None:
    """Valid samples: ``rows`` rows of exactly ``tokens`` in-vocabulary tokens, finite raw log-probs <= 0."""
    assert tuple(new.shape) == (rows, tokens), new.shape
    assert tuple(logprobs.shape) == (rows, tokens), logprobs.shape
    assert int(new.min()) >= 0 and int(new.max()) < vocab
    assert bool(torch.isfinite(logprobs).all()) and float(logprobs.max()) <= 0.0


def until_eos(row: Sequence[int], eos: int) -> list[int]:
    """``row`` cut after its first EOS (the continuation srcal keeps)."""
    row = list(row)
    return row[: row.index(eos) + 1] if eos in row else row
