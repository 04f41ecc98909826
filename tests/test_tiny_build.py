"""srcal-tiny's build path in CI: ``build_srcal_tiny`` with a reduced recipe (about 2 minutes on 2 cores).

Every committed number comes from srcal-tiny, whose full build takes 15+ minutes (``tox -e slow``,
tests/test_tiny_slow.py). Here the same function runs the same stages on the real pretrained parts
(assemble, projector alignment, LoRA instruction tuning, merge, card evaluation, atomic save) with
small numbers: two steps per stage on the ``smoke`` data, one test item per suite for the card.
A missing part fails these tests (PartsMissingError), it does not skip them.
"""

from __future__ import annotations

import json
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

import pytest

from benchmarks.records import read_items
from calibrate.zoo.srcal_tiny import RECIPE_FILE, TinyRecipe

REDUCED = TinyRecipe(
    data_preset="smoke",
    batch_size=2,
    align_steps=2,
    tune_steps=2,
    lora_top_layers=2,
    eval_per_suite=1,
    eval_batch_size=8,
)
"""The recipe with CI sizes (smoke data, steps, items); every other field (seed, resolution, LoRA rank, lrs) is the default."""


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory, smoke_dataset: Path) -> Path:
    from calibrate.zoo.srcal_tiny import build_srcal_tiny

    return build_srcal_tiny(
        tmp_path_factory.mktemp("zoo") / "srcal-tiny", data_dir=smoke_dataset, recipe=REDUCED, progress=print
    )


@pytest.fixture(scope="module")
def reloaded(tiny: Path) -> tuple[Any, Any]:
    """The built directory loaded with plain transformers (after the tower's registration import)."""
    from transformers import AutoModelForImageTextToText, AutoProcessor

    import calibrate.zoo.vision_tower  # noqa: F401  (registers the EfficientNet tower with AutoModel)

    model = AutoModelForImageTextToText.from_pretrained(tiny).eval()
    processor = AutoProcessor.from_pretrained(tiny)
    processor.tokenizer.padding_side = "left"
    return model, processor


class TestReducedTinyBuild:
    def test_reduced_recipe_differs_only_in_sizes(self) -> None:
        default = asdict(TinyRecipe())
        changed = {f.name for f in fields(TinyRecipe) if default[f.name] != asdict(REDUCED)[f.name]}
        assert changed == {
            "data_preset",
            "batch_size",
            "align_steps",
            "tune_steps",
            "lora_top_layers",
            "eval_per_suite",
            "eval_batch_size",
        }

    def test_card_and_record_carry_the_figures(self, tiny: Path, smoke_dataset: Path) -> None:
        record = json.loads((tiny / RECIPE_FILE).read_text())
        assert record["recipe"] == asdict(REDUCED)
        for stage in ("align", "tune"):
            info = record["training"][stage]
            assert info["steps"] == 2 and info["examples"] == 2 * REDUCED.batch_size
            assert info["first_logged_loss"] > 0 and info["last_logged_loss"] > 0
        suites = json.loads((smoke_dataset / "manifest.json").read_text())["config"]["suites"]
        evaluation = record["evaluation"]
        assert set(evaluation) == set(suites)
        for suite, info in evaluation.items():
            assert info["n"] == 1, suite
            assert 0.0 <= info["accuracy"] <= 1.0 and 0.0 <= info["majority_baseline"] <= 1.0
            assert len(info["examples"]) == 1 and isinstance(info["examples"][0]["response"], str)
        card = (tiny / "README.md").read_text()
        assert "## Accuracy on the built-in test suites" in card
        for suite, info in evaluation.items():
            assert f"| {suite} | {info['category']} | 1 | {info['accuracy']:.3f} |" in card
        assert "| align | 2 |" in card and "| tune | 2 |" in card
        assert not list(tiny.parent.glob(".srcal-tiny.partial-*"))  # staged, then renamed into place

    def test_rebuild_with_the_same_recipe_is_a_no_op(self, tiny: Path, smoke_dataset: Path) -> None:
        from calibrate.zoo.srcal_tiny import build_srcal_tiny

        stamp = (tiny / "model.safetensors").stat().st_mtime_ns
        said: list[str] = []
        assert build_srcal_tiny(tiny, data_dir=smoke_dataset, recipe=REDUCED, progress=said.append) == tiny
        assert any("up to date" in line for line in said), said
        assert (tiny / "model.safetensors").stat().st_mtime_ns == stamp

    def test_merged_model_loads_with_plain_transformers_and_answers(
        self, tiny: Path, reloaded: tuple[Any, Any], smoke_dataset: Path
    ) -> None:
        from PIL import Image
        from safetensors import safe_open
        from transformers import LlavaForConditionalGeneration

        model, processor = reloaded
        assert isinstance(model, LlavaForConditionalGeneration)
        assert not (tiny / "adapter_config.json").exists()  # merged, not an adapter
        with safe_open(str(tiny / "model.safetensors"), framework="pt") as handle:
            keys = list(handle.keys())  # noqa: SIM118  (a safetensors handle, not a dict)
            assert not [k for k in keys if "lora_" in k]
        item = next(i for i in read_items(smoke_dataset / "test.jsonl") if i.suite == "easyvqa")
        image = Image.open(smoke_dataset / item.image).convert("RGB")
        messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": item.question}]}]
        prompt = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        inputs = processor(images=[image], text=[prompt], return_tensors="pt")
        out = model.generate(**inputs, max_new_tokens=8, do_sample=False)
        answer = processor.tokenizer.decode(out[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
        assert answer.strip(), out

    def test_training_moved_exactly_the_trained_weights(self, reloaded: tuple[Any, Any]) -> None:
        """Against the untrained assembly (same seed): projector and the merged LoRA layers moved, the rest not."""
        import re

        import torch

        from calibrate.zoo.parts import smollm2_dir
        from calibrate.zoo.srcal_tiny import assemble_tiny

        model, _ = reloaded
        untrained, _ = assemble_tiny(smollm2_dir(), REDUCED)
        before = untrained.state_dict()
        n_layers = model.config.text_config.num_hidden_layers
        top = range(n_layers - REDUCED.lora_top_layers, n_layers)
        lora = re.compile(
            rf"language_model\.layers\.({'|'.join(map(str, top))})\.self_attn\.[qkvo]_proj\.weight$"
        )
        after = model.state_dict()
        assert set(after) == set(before)
        moved = {name for name, value in after.items() if not torch.equal(value, before[name])}
        expected = {n for n in after if "multi_modal_projector" in n or lora.search(n)}
        assert len(expected) == 4 + 4 * REDUCED.lora_top_layers
        assert moved == expected
