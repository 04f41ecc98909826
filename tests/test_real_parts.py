"""The real path of srcal-tiny, fast enough for CI (< 3 minutes).

Both pretrained parts load from their PyPI packages offline, the LLaVA model is
assembled from them, a few projector-alignment steps run through trl (only the
projector moves), and the assembled model generates. A broken install of the real
path turns CI red here rather than in a user's 20-minute build.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch

from benchmarks.records import read_items


@pytest.fixture(scope="module")
def smollm2() -> Path:
    from calibrate.zoo.parts import smollm2_dir

    return smollm2_dir()


class TestRealParts:
    def test_smollm2_converted_once_and_cached(self, smollm2: Path) -> None:
        from calibrate.zoo.parts import smollm2_dir

        assert (smollm2 / "model.safetensors").stat().st_size > 400e6
        marker = (smollm2 / "srcal_part.json").stat().st_mtime_ns
        assert smollm2_dir() == smollm2
        assert (smollm2 / "srcal_part.json").stat().st_mtime_ns == marker  # no second conversion

    def test_smollm2_answers_text(self, smollm2: Path) -> None:
        from transformers import AutoTokenizer, LlamaForCausalLM

        tokenizer = AutoTokenizer.from_pretrained(smollm2)
        model = LlamaForCausalLM.from_pretrained(smollm2)
        assert tokenizer.pad_token_id != tokenizer.eos_token_id
        messages = [{"role": "user", "content": "What is the capital of France?"}]
        inputs = tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
        )
        out = model.generate(**inputs, max_new_tokens=12, do_sample=False)
        assert "Paris" in tokenizer.decode(out[0, inputs["input_ids"].shape[1] :])

    def test_assemble_align_generate(self, smollm2: Path, smoke_dataset: Path) -> None:
        from PIL import Image

        from calibrate.generation import generate_texts
        from calibrate.zoo.srcal_tiny import TinyRecipe, _train_stage, assemble_tiny

        recipe = replace(TinyRecipe(), align_steps=3, batch_size=2)
        model, processor = assemble_tiny(smollm2, recipe)
        tower = model.model.vision_tower
        assert tower.config.backbone == "efficientnet_lite0"
        item = read_items(smoke_dataset / "test.jsonl")[0]
        image = Image.open(smoke_dataset / item.image).convert("RGB")
        inputs = processor(images=[image], text=["<image>"], return_tensors="pt")
        assert int((inputs["input_ids"] == model.config.image_token_index).sum()) == 16

        before = {n: p.detach().clone() for n, p in model.named_parameters()}
        summary = _train_stage(
            model, processor, read_items(smoke_dataset / "base.jsonl"), smoke_dataset, recipe, "align"
        )
        assert summary["steps"] == 3
        for name, param in model.named_parameters():
            moved = not torch.equal(before[name], param.detach())
            assert moved == ("multi_modal_projector" in name), name

        answer = generate_texts(model.eval(), processor, [image], [item.question], max_new_tokens=6)
        assert isinstance(answer[0], str)
