"""Alignment baselines run by the same driver on the same data (see ``calibrate.loop``).

A baseline differs from SRC in its candidate scorer (stage 3, verdicts; `calibrate.verdicts.SCORERS`):
its entry here writes ``direct`` `CandidateScores` that the same curation turns into pairs.

- ``sft-only``: iteration 0 (rationale fine-tuning) alone.
- ``outcome-dpo``: pairs chosen by answer correctness only (`OutcomeCorrectness`, `outcome_scores`).
- ``csr-style`` (`SelfReward`): CSR's self-reward (Zhou et al., 2024), adapted to our encoder: a
  candidate's reward mixes the policy's own sequence likelihood with an image-relevance
  term. CSR measures relevance with CLIP similarity; our vision tower has no text tower,
  so relevance is how much the image raises the response's likelihood:
  ``r = alpha * L(image) + (1 - alpha) * (L(image) - L(blank image))`` with ``L`` the
  mean token log-probability of the response under the policy.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.records import BenchmarkItem
from calibrate.artifacts import ItemLog
from calibrate.records import CandidateScores, CandidateSet, write_records
from calibrate.verdicts import CandidateScorer

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


def self_rewards(
    policy: Any,
    item: BenchmarkItem,
    candidate_set: CandidateSet,
    data_dir: Path,
    prompt_style: str = "bare",
    alpha: float = CSR_ALPHA,
) -> dict[str, float]:
    """candidate_id (str) -> CSR-style self-reward of each of ``item``'s candidates."""
    from PIL import Image

    from benchmarks.paths import item_image_path
    from benchmarks.prompts import build_prompt

    with Image.open(item_image_path(data_dir, item)) as opened:
        image = opened.convert("RGB")
    blank = Image.new("RGB", image.size, (128, 128, 128))
    prompt = build_prompt(item.question, item.choices, style=prompt_style)
    texts = [c.text for c in candidate_set.candidates]
    with_image = response_logprobs(policy, image, prompt, texts)
    without = response_logprobs(policy, blank, prompt, texts)
    return {
        str(c.candidate_id): round(alpha * w + (1 - alpha) * (w - b), 6)
        for c, w, b in zip(candidate_set.candidates, with_image, without)
    }


class SelfReward(CandidateScorer):
    """``csr-style``'s candidate scorer: the policy's self-reward of each candidate (`self_rewards`)."""

    method = "csr-style"

    def config(self) -> dict[str, Any]:
        return {"alpha": CSR_ALPHA, "prompt_style": self.job.cfg.candidates.prompt_style}

    def inputs(self) -> dict[str, str]:
        return {"policy": self.job.policy.hash}

    def score(self, items: Sequence[BenchmarkItem], out: Path) -> dict[str, Any]:
        from calibrate.models import load_model

        sets = {cs.item_id: cs for cs in self.job.candidate_sets}
        log = ItemLog(out)
        pending = [item for item in items if item.id in sets and item.id not in log]
        if pending:
            policy = load_model(str(self.job.policy.path), **self.job.cfg.model.load_kwargs())
        for item in pending:
            cs = sets[item.id]
            scores = (
                self_rewards(policy, item, cs, self.job.data_dir, self.job.cfg.candidates.prompt_style)
                if cs.candidates
                else {}
            )
            log.append([CandidateScores(item.id, self.method, "direct", scores=scores).to_dict()])
        scored = [item.id for item in items if item.id in sets]
        log.rewrite_ordered(scored)
        return {"items": len(scored), "new_items": len(pending)}


def outcome_scores(candidate_set: CandidateSet) -> dict[int, float]:
    """The outcome-only baseline: 1 for a correct answer, 0 otherwise (no rationale judged)."""
    return {c.candidate_id: 1.0 if c.correct else 0.0 for c in candidate_set.candidates}


class OutcomeCorrectness(CandidateScorer):
    """``outcome-dpo``'s candidate scorer: each candidate's answer correctness (`outcome_scores`)."""

    method = "outcome-dpo"

    def config(self) -> dict[str, Any]:
        return {"scores": "answer correctness"}

    def score(self, items: Sequence[BenchmarkItem], out: Path) -> dict[str, Any]:
        sets = {cs.item_id: cs for cs in self.job.candidate_sets}
        records = [
            CandidateScores(
                item.id,
                self.method,
                "direct",
                scores={str(i): s for i, s in outcome_scores(sets[item.id]).items()},
            )
            for item in items
            if item.id in sets
        ]
        write_records(out, records)
        return {"items": len(records)}
