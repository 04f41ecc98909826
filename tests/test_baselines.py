"""The csr-style baseline's self-reward (`calibrate.baselines`) on srcal-micro."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from benchmarks.records import read_items
from calibrate import baselines
from calibrate.baselines import CSR_ALPHA, response_logprobs, self_rewards
from calibrate.generation import chat_prompt
from calibrate.models import load_model
from calibrate.records import Candidate, CandidateSet

RESPONSES = [
    "The image shows a red circle.\nAnswer: A",
    "No.",
    "There are 3 digits, so the answer is 3.\nAnswer: 3",
]


@pytest.fixture(scope="module")
def policy(tmp_path_factory: pytest.TempPathFactory):
    from calibrate.zoo.srcal_micro import build_srcal_micro

    return load_model(build_srcal_micro(tmp_path_factory.mktemp("micro") / "srcal-micro"), device="cpu")


@pytest.fixture(scope="module")
def item(smoke_dataset: Path):
    return read_items(smoke_dataset / "calib.jsonl")[0]


def _image(smoke_dataset: Path, item):
    from PIL import Image

    with Image.open(smoke_dataset / item.image) as image:
        return image.convert("RGB")


def _mean_logprob(policy, image, prompt: str, response: str) -> float:
    """Mean log-probability of ``response`` (and EOS) after ``prompt``: one unpadded teacher-forced forward."""
    processor = policy.processor
    context = chat_prompt(processor, prompt)
    n_context = processor(images=[image], text=[context], return_tensors="pt")["input_ids"].shape[1]
    full = processor(
        images=[image], text=[context + response + processor.tokenizer.eos_token], return_tensors="pt"
    )
    with torch.inference_mode():
        logits = policy.model(**full).logits[0].float()
    ids = full["input_ids"][0]
    logprobs = torch.log_softmax(logits, dim=-1)
    scored = [logprobs[t - 1, ids[t]].item() for t in range(n_context, len(ids))]
    return sum(scored) / len(scored)


def _candidates(item_id: str, texts: list[str]) -> CandidateSet:
    return CandidateSet(
        item_id,
        [Candidate(i, t, t, None, "ok", None, 0.0, 1) for i, t in enumerate(texts)],
        num_generated=len(texts),
    )


def test_response_logprobs_equal_unpadded_teacher_forcing(policy, item, smoke_dataset: Path) -> None:
    """Responses of different lengths share a right-padded batch: padding changes no response's score."""
    from benchmarks.prompts import build_prompt

    image, prompt = _image(smoke_dataset, item), build_prompt(item.question, item.choices)
    batched = response_logprobs(policy, image, prompt, RESPONSES)
    single = [_mean_logprob(policy, image, prompt, r) for r in RESPONSES]
    assert batched == pytest.approx(single, abs=1e-4)
    assert len(set(round(x, 4) for x in batched)) == len(RESPONSES)  # three different responses


def test_self_reward_is_likelihood_plus_image_relevance(policy, item, smoke_dataset: Path) -> None:
    """r = alpha L(image) + (1 - alpha) (L(image) - L(gray image of the same size))."""
    from PIL import Image

    from benchmarks.prompts import build_prompt

    image, prompt = _image(smoke_dataset, item), build_prompt(item.question, item.choices)
    blank = Image.new("RGB", image.size, (128, 128, 128))
    rewards = self_rewards(policy, item, _candidates(item.id, RESPONSES), smoke_dataset)
    assert list(rewards) == ["0", "1", "2"]
    for key, response in zip(rewards, RESPONSES):
        with_image = _mean_logprob(policy, image, prompt, response)
        without = _mean_logprob(policy, blank, prompt, response)
        assert without != pytest.approx(with_image, abs=1e-6)  # the image matters to the policy
        expected = CSR_ALPHA * with_image + (1 - CSR_ALPHA) * (with_image - without)
        assert rewards[key] == pytest.approx(expected, abs=1e-4)


def test_a_response_the_image_makes_likelier_is_rewarded_higher(
    item, smoke_dataset: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Equal likelihood with the image: the one whose likelihood the image raises more wins; equal relevance:
    the likelier one wins."""
    # (L with the image, L with the gray image) per response
    likelihoods = {"grounded": (-2.0, -3.0), "blind": (-2.0, -2.0), "likely blind": (-1.0, -1.0)}

    def fake_logprobs(_policy, image, _prompt, responses):
        gray = image.getextrema() == ((128, 128),) * 3
        return [likelihoods[r][1 if gray else 0] for r in responses]

    monkeypatch.setattr(baselines, "response_logprobs", fake_logprobs)
    rewards = self_rewards(None, item, _candidates(item.id, list(likelihoods)), smoke_dataset)
    grounded, blind, likely_blind = (rewards[str(i)] for i in range(3))
    assert grounded > blind and likely_blind > blind
    assert grounded == pytest.approx(CSR_ALPHA * -2.0 + (1 - CSR_ALPHA) * 1.0)
    assert blind == pytest.approx(CSR_ALPHA * -2.0)
