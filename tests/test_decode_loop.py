"""The decoding loop against ``generate``: same nucleus, same greedy tokens, same sampling distribution."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from calibrate.decode_loop import DecodeSettings, decode, nucleus_keep, pick_tokens
from calibrate.models import load_model


@pytest.fixture(scope="module")
def policy(tmp_path_factory: pytest.TempPathFactory):
    from calibrate.zoo.srcal_micro import build_srcal_micro

    return load_model(build_srcal_micro(tmp_path_factory.mktemp("micro") / "srcal-micro"), device="cpu")


def _hf_nucleus(probs: torch.Tensor, top_p: float) -> list[set[int]]:
    """The tokens transformers' ``TopPLogitsWarper`` keeps, per row."""
    from transformers.generation.logits_process import TopPLogitsWarper

    kept = TopPLogitsWarper(top_p)(None, probs.log())
    return [set(torch.nonzero(row > -float("inf")).flatten().tolist()) for row in kept]


@pytest.mark.parametrize("top_p", [0.1, 0.5, 0.9, 0.95, 0.999])
@pytest.mark.parametrize("sharpness", [0.1, 1.0, 8.0])
def test_nucleus_is_the_set_generate_keeps(top_p: float, sharpness: float) -> None:
    generator = torch.Generator().manual_seed(int(top_p * 1000 + sharpness * 10))
    probs = torch.softmax(torch.randn(6, 5000, generator=generator) * sharpness, dim=-1)
    ids, kept, k = nucleus_keep(probs, top_p, k=16)
    assert k >= 16 and ids.shape == kept.shape == (6, k)
    ours = [set(ids[r][kept[r] > 0].tolist()) for r in range(6)]
    assert ours == _hf_nucleus(probs, top_p)
    assert torch.allclose(kept.sum(-1) >= top_p - 1e-6, torch.ones(6, dtype=torch.bool))


def test_sampling_follows_the_nucleus_distribution() -> None:
    """20,000 draws from one row: frequencies within 4 standard errors of the renormalised nucleus."""
    logits = torch.tensor([[3.0, 2.5, 2.0, 1.0, 0.5, 0.0, -1.0, -2.0]]).repeat(20000, 1)
    settings = DecodeSettings(max_new_tokens=1, do_sample=True, temperature=0.8, top_p=0.9)
    torch.manual_seed(0)
    tokens, logprobs = pick_tokens(logits, 0, settings, eos_id=None)
    probs = torch.softmax(logits[0] / 0.8, dim=-1)
    nucleus = sorted(_hf_nucleus(probs[None], 0.9)[0])
    expected = torch.zeros(8)
    expected[nucleus] = probs[nucleus] / probs[nucleus].sum()
    observed = torch.bincount(tokens, minlength=8).float() / len(tokens)
    stderr = (expected * (1 - expected) / len(tokens)).sqrt().clamp_min(1e-9)
    assert ((observed - expected).abs() <= 4 * stderr).all(), (observed, expected)
    assert set(tokens.tolist()) <= set(nucleus)
    raw = torch.log_softmax(logits[0], dim=-1)  # log-probs of the raw logits, not the warped ones
    assert torch.allclose(logprobs, raw[tokens])


def test_min_new_tokens_blocks_eos_and_finished_rows_are_padded() -> None:
    logits = torch.full((2, 5), -5.0)
    logits[:, 4] = 5.0  # EOS is by far the likeliest
    settings = DecodeSettings(max_new_tokens=3, min_new_tokens=1)
    first, _ = pick_tokens(logits, 0, settings, eos_id=4)
    later, _ = pick_tokens(logits, 1, settings, eos_id=4)
    assert 4 not in first.tolist() and later.tolist() == [4, 4]


def _prompts(policy, smoke_dataset: Path, n: int) -> tuple[list[str], list]:
    from PIL import Image

    from benchmarks.prompts import build_prompt
    from benchmarks.records import read_items
    from calibrate.generation import chat_prompt

    items = read_items(smoke_dataset / "calib.jsonl")[:n]
    images = [Image.open(smoke_dataset / i.image).convert("RGB") for i in items]
    texts = [chat_prompt(policy.processor, build_prompt(i.question, i.choices)) for i in items]
    return texts, images


def test_greedy_tokens_equal_generate(policy, smoke_dataset: Path) -> None:
    """Left-padded batch of 4, greedy, 12 tokens: the loop's tokens are ``generate``'s, row for row."""
    texts, images = _prompts(policy, smoke_dataset, 4)
    processor, tokenizer = policy.processor, policy.processor.tokenizer
    tokenizer.padding_side = "left"
    texts[1] += " Please think."  # rows of different lengths: real left padding
    inputs = processor(images=images, text=texts, return_tensors="pt", padding=True)
    with torch.inference_mode():
        reference = policy.model.generate(
            **inputs,
            do_sample=False,
            max_new_tokens=12,
            min_new_tokens=12,
            pad_token_id=tokenizer.pad_token_id,
        )[:, inputs["input_ids"].shape[1] :]
    settings = DecodeSettings(max_new_tokens=12, min_new_tokens=12)
    tokens, logprobs = decode(
        policy.model,
        inputs["input_ids"],
        inputs["attention_mask"],
        inputs["pixel_values"],
        1,
        settings,
        tokenizer.eos_token_id,
        tokenizer.pad_token_id,
    )
    assert tokens.tolist() == reference.tolist()
    assert logprobs.shape == tokens.shape and (logprobs <= 0).all()


def test_shared_prefill_repeats_rows_and_stops(policy, smoke_dataset: Path) -> None:
    """n samples per row come out row-major; a stop test ends the loop early for every row."""
    texts, images = _prompts(policy, smoke_dataset, 2)
    inputs = policy.processor(images=images, text=texts, return_tensors="pt", padding=True)
    settings = DecodeSettings(max_new_tokens=10, min_new_tokens=10, do_sample=True, top_p=0.9)
    torch.manual_seed(0)
    tokens, _ = decode(
        policy.model,
        inputs["input_ids"],
        inputs["attention_mask"],
        inputs["pixel_values"],
        3,
        settings,
        None,
        0,
        stop=lambda new: torch.full((new.shape[0],), new.shape[1] >= 4),
    )
    assert tokens.shape == (6, 4)
