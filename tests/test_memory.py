"""``batch_size: auto``: the KV formula against a real cache, and a small budget on CPU never exceeded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from calibrate.memory import HEADROOM, auto_batch_size, kv_bytes_per_token, sequence_bytes, weight_bytes
from harness.evaluate import Checkpoint, Evaluation, eval_config_from


@pytest.fixture(scope="module")
def micro(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from calibrate.zoo.srcal_micro import build_srcal_micro

    return build_srcal_micro(tmp_path_factory.mktemp("micro") / "srcal-micro")


@pytest.fixture(scope="module")
def loaded(micro: Path):
    from calibrate.models import load_model

    return load_model(str(micro), dtype="fp32", device="cpu")


def _cache_bytes(cache) -> int:
    total = 0
    for layer in getattr(cache, "layers", []):
        for name in ("keys", "values"):
            tensor = getattr(layer, name, None)
            if tensor is not None:
                total += tensor.numel() * tensor.element_size()
    return total


def test_kv_bytes_per_token_is_what_the_cache_holds(loaded) -> None:
    model, tokenizer = loaded.model, loaded.processor.tokenizer
    ids = tokenizer(["a b c d e f g h"] * 3, return_tensors="pt")["input_ids"]
    with torch.inference_mode():
        out = (
            model.language_model(input_ids=ids, use_cache=True)
            if hasattr(model, "language_model")
            else model(input_ids=ids, use_cache=True)
        )
    held = _cache_bytes(out.past_key_values)
    assert held > 0
    assert held == kv_bytes_per_token(model) * ids.numel()


class TestAutoBatch:
    def test_fits_the_budget_and_one_more_would_not(self, loaded) -> None:
        model, tokens = loaded.model, 300
        budget = (weight_bytes(model) + 5.5 * sequence_bytes(model, tokens)) / (1 - HEADROOM) / 2**30
        size = auto_batch_size(model, tokens, budget_gib=budget)
        assert size == 5
        used = weight_bytes(model) + size * sequence_bytes(model, tokens)
        assert used <= budget * 2**30 * (1 - HEADROOM) < used + sequence_bytes(model, tokens)

    def test_too_small_a_budget_says_so(self, loaded) -> None:
        with pytest.raises(MemoryError, match="one sequence of 300 tokens needs"):
            auto_batch_size(loaded.model, 300, budget_gib=weight_bytes(loaded.model) / 2**30)

    def test_free_memory_budget_and_the_cap(self, loaded) -> None:
        """Without a budget the host's free memory (GBs here) holds far more than 3 short sequences."""
        assert auto_batch_size(loaded.model, 64, cap=3) == 3


def test_auto_in_an_evaluation(micro: Path, smoke_dataset: Path, tmp_path: Path) -> None:
    """The batch auto chooses under a small budget is what generation used, and outputs equal batch 1's."""
    from calibrate.models import load_model

    model = load_model(str(micro), dtype="fp32", device="cpu").model
    budget = (weight_bytes(model) + 3.5 * sequence_bytes(model, 200)) / (1 - HEADROOM) / 2**30
    base = {"data_dir": str(smoke_dataset), "max_new_tokens": 16, "limit": 8, "bootstrap_samples": 50}
    base |= {"benchmarks": ["digits"], "reader": {"name": "conclusion"}}
    auto = eval_config_from((), {**base, "batch_size": "auto", "memory_budget_gib": budget})
    fixed = eval_config_from((), {**base, "batch_size": 1})
    said: list[str] = []
    Evaluation(Checkpoint(str(micro)), auto, tmp_path / "auto", progress=said.append).run()
    Evaluation(Checkpoint(str(micro)), fixed, tmp_path / "one").run()
    chosen = int(next(m for m in said if "batch_size auto" in m).split("= ")[1].split()[0])
    rows = [
        json.loads(line) for line in (tmp_path / "auto" / "digits" / "samples.jsonl").read_text().splitlines()
    ]
    assert 1 <= chosen <= 8 and {r["timing"]["batch_size"] for r in rows} == {chosen}
    ones = [
        json.loads(line) for line in (tmp_path / "one" / "digits" / "samples.jsonl").read_text().splitlines()
    ]
    assert [r["response"] for r in rows] == [r["response"] for r in ones]
    assert auto.results_hash() == fixed.results_hash()


def test_bad_batch_size() -> None:
    from benchmarks.configuration import ConfigError

    with pytest.raises(ConfigError, match="batch_size must be a positive integer or 'auto'"):
        eval_config_from((), {"batch_size": "big"})
