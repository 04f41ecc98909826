"""Candidate-sampling throughput on the srcal-tiny architecture (``tox -e bench``).

16 prompts x 8 candidates x 48 new tokens (``min_new_tokens = max_new_tokens``, so both sides
generate exactly the same number of tokens), measured in the same run:

- batched: ``calibrate.decoding.sample_responses``, one left-padded batch of 16 prompts, each
  prompt prefilled once and its 8 samples decoded from the shared KV cache;
- naive: 128 single ``generate`` calls (one prompt, one sample each).

The projector is untrained (speed does not depend on training). Read the ratio, not the absolute
figures. Target: >= 4x.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import torch

PROMPTS = 16
CANDIDATES = 8
NEW_TOKENS = 48
SAMPLING = {"temperature": 1.0, "top_p": 0.95}


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


def _naive(model, processor, images: list, prompts: list[str]) -> int:
    """One ``generate`` call per prompt and sample, with the same raw-logit log-probs."""
    from calibrate.generation import chat_prompt

    tokens = 0
    for image, prompt in zip(images, prompts):
        inputs = processor(images=[image], text=[chat_prompt(processor, prompt)], return_tensors="pt")
        for _ in range(CANDIDATES):
            with torch.inference_mode():
                out = model.generate(
                    **inputs,
                    do_sample=True,
                    top_k=0,
                    max_new_tokens=NEW_TOKENS,
                    min_new_tokens=NEW_TOKENS,
                    output_logits=True,
                    return_dict_in_generate=True,
                    pad_token_id=processor.tokenizer.pad_token_id,
                    **SAMPLING,
                )
                new = out.sequences[:, inputs["input_ids"].shape[1] :]
                logits = torch.stack(out.logits, dim=1).float().log_softmax(-1)
                logits.gather(2, new[..., None])
            tokens += new.shape[1]
    return tokens


def test_sampling_throughput(benchmark, tiny, smoke_dataset: Path) -> None:
    from calibrate.decoding import sample_responses

    model, processor = tiny
    images, prompts = _inputs(smoke_dataset)
    torch.manual_seed(0)
    sample_responses(model, processor, images[:2], prompts[:2], 2, max_new_tokens=2, batch_size=2, **SAMPLING)

    def batched() -> int:
        responses, tokens = sample_responses(
            model,
            processor,
            images,
            prompts,
            CANDIDATES,
            max_new_tokens=NEW_TOKENS,
            min_new_tokens=NEW_TOKENS,
            batch_size=PROMPTS,
            **SAMPLING,
        )
        assert all(len(g.tokens) == NEW_TOKENS for r in responses for g in r)
        return tokens

    started = time.perf_counter()
    batched_tokens = benchmark.pedantic(batched, rounds=1, iterations=1)
    batched_s = time.perf_counter() - started
    started = time.perf_counter()
    naive_tokens = _naive(model, processor, images, prompts)
    naive_s = time.perf_counter() - started

    assert batched_tokens == naive_tokens == PROMPTS * CANDIDATES * NEW_TOKENS
    batched_tps, naive_tps = batched_tokens / batched_s, naive_tokens / naive_s
    speedup = batched_tps / naive_tps
    benchmark.extra_info.update(
        tokens=batched_tokens,
        batched_s=round(batched_s, 2),
        naive_s=round(naive_s, 2),
        batched_tokens_per_s=round(batched_tps, 1),
        naive_tokens_per_s=round(naive_tps, 1),
        speedup=round(speedup, 2),
        torch_threads=torch.get_num_threads(),
    )
    print(
        f"\ncandidate sampling, {PROMPTS} prompts x {CANDIDATES} x {NEW_TOKENS} tokens: "
        f"batched {batched_tps:.1f} tok/s ({batched_s:.1f} s), naive {naive_tps:.1f} tok/s ({naive_s:.1f} s), "
        f"speedup {speedup:.2f}x"
    )
    assert speedup > 1.0
