"""Alignment baselines run by the same driver on the same data (see ``calibrate.loop``).

- ``sft-only``: iteration 0 (rationale fine-tuning) alone.
- ``outcome-dpo``: pairs chosen by answer correctness only (``curation.outcome_scores``).
- ``csr-style``: CSR's self-reward (Zhou et al., 2024), adapted to our encoder: a
  candidate's reward mixes the policy's own sequence likelihood with an image-relevance
  term. CSR measures relevance with CLIP similarity; our vision tower has no text tower,
  so relevance is how much the image raises the response's likelihood:
  ``r = alpha * L(image) + (1 - alpha) * (L(image) - L(blank image))`` with ``L`` the
  mean token log-probability of the response under the policy.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.records import BenchmarkItem
from calibrate.records import CandidateSet

CSR_ALPHA = 0.5


def response_logprobs(policy: Any, image: Any, prompt: str, responses: list[str]) -> list[float]:
    """Mean token log-probability of each response after ``prompt`` on ``image`` (teacher forcing)."""
    import torch

    from calibrate.generation import chat_prompt

    processor = policy.processor
    tokenizer = processor.tokenizer
    device = next(policy.model.parameters()).device
    context = chat_prompt(processor, prompt)
    n_context = processor(images=[image], text=[context], return_tensors="pt")["input_ids"].shape[1]
    tokenizer.padding_side = "right"
    try:
        batch = processor(
            images=[image] * len(responses),
            text=[context + r + tokenizer.eos_token for r in responses],
            return_tensors="pt",
            padding=True,
        ).to(device)
    finally:
        tokenizer.padding_side = "left"
    with torch.inference_mode():
        logits = policy.model(**batch).logits.float()
    logprobs = torch.log_softmax(logits[:, :-1], dim=-1)
    targets = batch["input_ids"][:, 1:]
    token_lp = logprobs.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    mask = batch["attention_mask"][:, 1:].clone()
    mask[:, : n_context - 1] = 0  # score the response tokens only
    sums = (token_lp * mask).sum(-1)
    return (sums / mask.sum(-1).clamp(min=1)).tolist()


def csr_scores(
    policy: Any,
    items: list[BenchmarkItem],
    candidate_sets: list[CandidateSet],
    data_dir: Path,
    prompt_style: str = "bare",
    alpha: float = CSR_ALPHA,
) -> dict[str, dict[str, float]]:
    """item_id -> candidate_id (str) -> CSR-style self-reward."""
    from PIL import Image

    from benchmarks.prompts import build_prompt

    by_id = {i.id: i for i in items}
    out: dict[str, dict[str, float]] = {}
    for cs in candidate_sets:
        if not cs.candidates:
            continue
        item = by_id[cs.item_id]
        with Image.open(data_dir / item.image) as opened:
            image = opened.convert("RGB")
        blank = Image.new("RGB", image.size, (128, 128, 128))
        prompt = build_prompt(item.question, item.choices, style=prompt_style)
        texts = [c.text for c in cs.candidates]
        with_image = response_logprobs(policy, image, prompt, texts)
        without = response_logprobs(policy, blank, prompt, texts)
        out[cs.item_id] = {
            str(c.candidate_id): round(alpha * w + (1 - alpha) * (w - b), 6)
            for c, w, b in zip(cs.candidates, with_image, without)
        }
    return out
