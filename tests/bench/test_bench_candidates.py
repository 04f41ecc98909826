"""Candidate-sampling throughput on the srcal-tiny architecture (``tox -e bench``).

4 prompts x 8 candidates x 24 new tokens (``min_new_tokens = max_new_tokens``, so every side
generates exactly the same number of tokens), temperature 1, top-p 0.95, three sides timed over
the same 3 rounds, interleaved (:mod:`tests.bench.sides`), medians compared:

- srcal: ``calibrate.decoding.sample_responses``, one left-padded batch of the 4 prompts, each
  prompt prefilled once and its 8 samples decoded from the shared KV cache by the decode loop;
- naive: 32 single-sequence ``generate`` calls (one prompt, one sample each);
- off the shelf: one batched ``generate(num_return_sequences=8)`` over the same 4 prompts (the
  strongest path without srcal's code; it prefills each prompt 8 times).

Every side includes encoding its prompts and reads the raw-logit log-probs of its tokens. Outputs
checked: each side's samples are valid (the expected number of in-vocabulary tokens per sample,
finite log-probs <= 0), and the three paths decode the same greedy tokens for the same prompts.
How much of srcal's gain over the off-the-shelf call is the shared prefill alone (and how much the
decode loop) is measured at the ``tiny`` preset's shape in ``test_bench_decode.py``.

The projector is untrained (speed does not depend on training). Read the ratios, not the absolute
figures. Target (docs/performance.md): >= 4x over the naive calls.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.bench.generate_paths import check_samples, generate_path, until_eos
from tests.bench.sides import side_by_side

PROMPTS = 4
CANDIDATES = 8
NEW_TOKENS = 24
SAMPLING = {"temperature": 1.0, "top_p": 0.95}
TARGET = 4.0


@pytest.fixture(scope="module")
def tiny():
    from calibrate.zoo.parts import smollm2_dir
    from calibrate.zoo.srcal_tiny import TinyRecipe, assemble_tiny

    model, processor = assemble_tiny(smollm2_dir(), TinyRecipe())
    return model.eval(), processor


def _inputs(smoke_dataset: Path) -> tuple[list, list[str]]:
    from PIL import Image

    from benchmarks.prompts import build_prompt
    from benchmarks.records import read_items

    items = read_items(smoke_dataset / "calib.jsonl")[:PROMPTS]
    images = []
    for item in items:
        with Image.open(smoke_dataset / item.image) as image:
            images.append(image.convert("RGB"))
    return images, [build_prompt(item.question, item.choices) for item in items]


def _check_greedy_tokens_are_the_same(model, processor, images: list, prompts: list[str]) -> None:
    """srcal's decode loop, one batched ``generate`` and single-prompt ``generate`` calls: same greedy tokens."""
    from calibrate.decoding import encode_prompt, generate_rows

    tokenizer, eos = processor.tokenizer, processor.tokenizer.eos_token_id
    encoded = [encode_prompt(processor, image, prompt) for image, prompt in zip(images, prompts)]
    rows, pixels = [ids for ids, _ in encoded], [px for _, px in encoded]
    greedy = {"max_new_tokens": 16, "do_sample": False}
    ours, _ = generate_rows(model, tokenizer, rows, pixels, 1, **greedy)
    batched, _ = generate_path(model, tokenizer, rows, pixels, 1, **greedy)
    for k, generated in enumerate(ours):
        single, _ = generate_path(model, tokenizer, rows[k : k + 1], pixels[k : k + 1], 1, **greedy)
        assert generated.tokens == until_eos(batched[k].tolist(), eos) == until_eos(single[0].tolist(), eos)


def test_sampling_throughput(benchmark, tiny, smoke_dataset: Path) -> None:
    from calibrate.decoding import encode_prompt, sample_responses

    model, processor = tiny
    tokenizer, vocab = processor.tokenizer, model.get_output_embeddings().weight.shape[0]
    images, prompts = _inputs(smoke_dataset)
    budget = {"max_new_tokens": NEW_TOKENS, "min_new_tokens": NEW_TOKENS}
    _check_greedy_tokens_are_the_same(model, processor, images, prompts)
    torch.manual_seed(0)
    sample_responses(model, processor, images[:2], prompts[:2], 2, max_new_tokens=2, batch_size=2, **SAMPLING)

    def ours() -> tuple:
        responses, tokens = sample_responses(
            model, processor, images, prompts, CANDIDATES, batch_size=PROMPTS, **budget, **SAMPLING
        )
        generated = [g for r in responses for g in r]
        return torch.tensor([g.tokens for g in generated]), torch.tensor([g.logprobs for g in generated])

    def naive() -> tuple:
        news, logprobs = [], []
        for image, prompt in zip(images, prompts):
            ids, pixels = encode_prompt(processor, image, prompt)
            for _ in range(CANDIDATES):
                new, lp = generate_path(model, tokenizer, [ids], [pixels], 1, **budget, **SAMPLING)
                news.append(new)
                logprobs.append(lp)
        return torch.cat(news), torch.cat(logprobs)

    def off_the_shelf() -> tuple:
        encoded = [encode_prompt(processor, image, prompt) for image, prompt in zip(images, prompts)]
        rows, pixels = [ids for ids, _ in encoded], [px for _, px in encoded]
        return generate_path(model, tokenizer, rows, pixels, CANDIDATES, **budget, **SAMPLING)

    sides = side_by_side(benchmark, ours, {"naive": naive, "generate_batched": off_the_shelf})
    for outputs in sides.outputs.values():
        for new, logprobs in outputs:
            check_samples(new, logprobs, PROMPTS * CANDIDATES, NEW_TOKENS, vocab)
    tokens = PROMPTS * CANDIDATES * NEW_TOKENS
    over_naive, over_batched = sides.ratio("naive"), sides.ratio("generate_batched")
    benchmark.extra_info.update(
        tokens=tokens,
        **sides.info(),
        tokens_per_s={side: round(tokens / sides.median(side), 1) for side in sides.seconds},
        speedup_over_naive=round(over_naive, 2),
        speedup_over_generate_batched=round(over_batched, 2),
        torch_threads=torch.get_num_threads(),
    )
    print(
        f"\ncandidate sampling, {PROMPTS} prompts x {CANDIDATES} x {NEW_TOKENS} tokens, median of "
        f"{len(sides.seconds['ours'])} rounds: srcal {sides.median('ours'):.1f} s, "
        f"{PROMPTS * CANDIDATES} single generate calls {sides.median('naive'):.1f} s ({over_naive:.2f}x), "
        f"one generate(num_return_sequences={CANDIDATES}) {sides.median('generate_batched'):.1f} s "
        f"({over_batched:.2f}x)"
    )
    assert over_naive >= TARGET, (
        f"candidate search is {over_naive:.2f}x faster than single generate calls; "
        f"docs/performance.md targets >= {TARGET}x"
    )
