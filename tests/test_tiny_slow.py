"""srcal-tiny end to end (``tox -e slow``, minutes).

Uses the build at ``$SRCAL_TINY_DIR`` when given (e.g. ``~/.cache/srcal/zoo/srcal-tiny``),
else builds srcal-tiny from scratch (about 15 minutes on 2 cores).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from benchmarks.parsing import parse_response
from benchmarks.records import read_items
from tests.test_trl_micro import run_lora_dpo, run_lora_sft

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    given = os.environ.get("SRCAL_TINY_DIR")
    if given:
        return Path(given)
    from calibrate.zoo.srcal_tiny import build_srcal_tiny

    return build_srcal_tiny(tmp_path_factory.mktemp("zoo") / "srcal-tiny", progress=print)


class TestSrcalTiny:
    def test_card_reports_accuracy_above_majority(self, tiny: Path) -> None:
        record = json.loads((tiny / "srcal_recipe.json").read_text())
        evaluation = record["evaluation"]
        assert "accuracy" in (tiny / "README.md").read_text()
        assert evaluation["easyvqa"]["accuracy"] > evaluation["easyvqa"]["majority_baseline"] + 0.1
        for category in ("chart", "math_science"):
            suites = [s for s in evaluation.values() if s["category"] == category]
            assert any(s["accuracy"] > s["majority_baseline"] for s in suites), category

    def test_plain_transformers_reload_answers_briefly(self, tiny: Path, smoke_dataset: Path) -> None:
        from PIL import Image
        from transformers import AutoProcessor, LlavaForConditionalGeneration

        import calibrate.zoo.vision_tower  # noqa: F401  (registers the tower)

        model = LlavaForConditionalGeneration.from_pretrained(tiny).eval()
        processor = AutoProcessor.from_pretrained(tiny)
        processor.tokenizer.padding_side = "left"
        item = next(i for i in read_items(smoke_dataset / "test.jsonl") if i.suite == "easyvqa")
        image = Image.open(smoke_dataset / item.image).convert("RGB")
        messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": item.question}]}]
        prompt = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        inputs = processor(images=[image], text=[prompt], return_tensors="pt")
        out = model.generate(**inputs, max_new_tokens=8, do_sample=False)
        answer = processor.tokenizer.decode(out[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
        assert 0 < len(answer.split()) <= 3, answer
        assert parse_response(answer, item.answer_type, item.choices).final_answer is not None, answer

    def test_trl_sft_and_dpo_on_tiny(self, tiny: Path, smoke_dataset: Path, tmp_path: Path) -> None:
        run_lora_sft(tiny, smoke_dataset, tmp_path / "sft", batch_size=2)
        run_lora_dpo(tiny, smoke_dataset, tmp_path / "dpo", batch_size=2)


def test_static_kv_cache_gives_the_same_greedy_tokens(tiny: Path, smoke_dataset: Path) -> None:
    """srcal-tiny (SmolLM2 inside LLaVA): a static KV cache decodes the same greedy tokens as the dynamic one."""
    from calibrate.generation import generate_texts, load_rgb
    from calibrate.models import load_model

    loaded = load_model(str(tiny), dtype="fp32", device="cpu")
    items = read_items(smoke_dataset / "test.jsonl")[::7][:8]
    images = [load_rgb(smoke_dataset / item.image) for item in items]
    prompts = [item.question for item in items]
    args = (loaded.model, loaded.processor, images, prompts)
    dynamic = generate_texts(*args, max_new_tokens=48, batch_size=4)
    static = generate_texts(*args, max_new_tokens=48, batch_size=4, cache_implementation="static")
    assert static == dynamic and any(dynamic)
