"""The model zoo: EfficientNet vision tower, micro tokenizer and the random-weight srcal-micro model."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

MAX_MICRO_BYTES = 5 * 1024 * 1024


@pytest.fixture(scope="module")
def micro_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from calibrate.zoo.srcal_micro import build_srcal_micro

    return build_srcal_micro(tmp_path_factory.mktemp("zoo") / "srcal-micro", seed=0)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _user_turn(text: str) -> list[dict]:
    return [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": text}]}]


def _image():
    from PIL import Image

    return Image.new("RGB", (80, 60), (200, 30, 30))


class TestMicroBuild:
    def test_size_files_and_determinism(self, micro_dir: Path, tmp_path: Path) -> None:
        from calibrate.zoo.srcal_micro import build_srcal_micro

        total = sum(p.stat().st_size for p in micro_dir.rglob("*") if p.is_file())
        assert total < MAX_MICRO_BYTES
        for name in ("config.json", "model.safetensors", "generation_config.json", "README.md"):
            assert (micro_dir / name).is_file(), name
        assert not list(micro_dir.glob("*.bin"))
        again = build_srcal_micro(tmp_path / "again", seed=0)
        for path in micro_dir.iterdir():
            assert _sha(path) == _sha(again / path.name), path.name
        other = build_srcal_micro(tmp_path / "other", seed=1)
        assert _sha(other / "model.safetensors") != _sha(micro_dir / "model.safetensors")

    def test_reloads_with_plain_llava(self, micro_dir: Path) -> None:
        import torch
        from safetensors.torch import load_file
        from transformers import LlavaForConditionalGeneration

        import calibrate.zoo.vision_tower as vt

        torch.manual_seed(1)
        model = LlavaForConditionalGeneration.from_pretrained(micro_dir)
        assert isinstance(model.model.vision_tower, vt.SrcalEfficientNetModel)
        # Nothing is left to random init: two loads under different seeds are identical, and every saved
        # tensor is used (transformers 5 saves LLaVA in its legacy key layout, so compare counts).
        torch.manual_seed(2)
        again = LlavaForConditionalGeneration.from_pretrained(micro_dir).state_dict()
        state = model.state_dict()
        assert all(torch.equal(value, again[key]) for key, value in state.items())
        assert len(load_file(micro_dir / "model.safetensors")) == len(state)
        gen = model.generation_config
        assert gen.pad_token_id is not None and gen.pad_token_id != gen.eos_token_id

    def test_processor_expands_image_token(self, micro_dir: Path) -> None:
        from transformers import AutoConfig, AutoProcessor

        import calibrate.zoo.vision_tower  # noqa: F401

        config = AutoConfig.from_pretrained(micro_dir)
        processor = AutoProcessor.from_pretrained(micro_dir)
        prompt = processor.apply_chat_template(_user_turn("What color is it?"), add_generation_prompt=True)
        assert prompt.count("<image>") == 1
        assert prompt.endswith("<|im_start|>assistant\n")
        enc = processor(images=_image(), text=prompt, return_tensors="pt")
        n_tokens = config.vision_config.num_image_tokens
        assert n_tokens == config.image_seq_length == 16
        assert int((enc["input_ids"] == config.image_token_index).sum()) == n_tokens
        assert tuple(enc["pixel_values"].shape) == (1, 3, 64, 64)

    def test_generate_on_image(self, micro_dir: Path) -> None:
        import torch
        from transformers import AutoProcessor, LlavaForConditionalGeneration

        import calibrate.zoo.vision_tower  # noqa: F401

        model = LlavaForConditionalGeneration.from_pretrained(micro_dir).eval()
        processor = AutoProcessor.from_pretrained(micro_dir)
        prompt = processor.apply_chat_template(_user_turn("Is the shape red?"), add_generation_prompt=True)
        enc = processor(images=_image(), text=prompt, return_tensors="pt")
        with torch.no_grad():
            out = model.generate(**enc, max_new_tokens=5, min_new_tokens=5, do_sample=False)
        assert out.shape == (1, enc["input_ids"].shape[1] + 5)
        assert isinstance(processor.decode(out[0, enc["input_ids"].shape[1] :]), str)


class TestTokenizer:
    def test_deterministic_and_special_tokens(self) -> None:
        from calibrate.zoo.tokenizer import IMAGE_TOKEN, SPECIAL_TOKENS, build_micro_tokenizer

        a, b = build_micro_tokenizer(), build_micro_tokenizer()
        assert a.backend_tokenizer.to_str() == b.backend_tokenizer.to_str()
        assert [a.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS] == list(range(len(SPECIAL_TOKENS)))
        assert a.pad_token_id != a.eos_token_id
        assert a.image_token == IMAGE_TOKEN
        ids = a("a red <image> circle", add_special_tokens=False)["input_ids"]
        assert ids.count(a.convert_tokens_to_ids(IMAGE_TOKEN)) == 1
        assert a.decode(ids) == "a red <image> circle"

    def test_chat_template_string_and_parts(self) -> None:
        from calibrate.zoo.tokenizer import build_micro_tokenizer

        tok = build_micro_tokenizer()
        as_str = [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hi?"},
            {"role": "assistant", "content": "Yes."},
        ]
        as_parts = [{"role": m["role"], "content": [{"type": "text", "text": m["content"]}]} for m in as_str]
        rendered = tok.apply_chat_template(as_str, tokenize=False)
        assert rendered == tok.apply_chat_template(as_parts, tokenize=False)
        assert rendered == (
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi?<|im_end|>\n"
            "<|im_start|>assistant\nYes.<|im_end|>\n"
        )
        with_image = tok.apply_chat_template(_user_turn("Q"), tokenize=False, add_generation_prompt=True)
        assert with_image == "<|im_start|>user\n<image>\nQ<|im_end|>\n<|im_start|>assistant\n"
        enc = tok.apply_chat_template(as_str, return_dict=True, return_assistant_tokens_mask=True)
        kept = [i for i, m in zip(enc["input_ids"], enc["assistant_masks"]) if m]
        assert tok.decode(kept) == "Yes.<|im_end|>"


class TestVisionTower:
    def test_tiny_tower_tokens_and_frozen_batchnorm(self) -> None:
        import torch

        from calibrate.zoo.vision_tower import SrcalEfficientNetConfig, SrcalEfficientNetModel

        torch.manual_seed(0)
        config = SrcalEfficientNetConfig(backbone="tiny_cnn", hidden_size=24, image_size=64, patch_size=16)
        tower = SrcalEfficientNetModel(config)
        tower.train()
        assert tower.training
        bns = [m for m in tower.modules() if isinstance(m, torch.nn.BatchNorm2d)]
        assert bns and not any(m.training for m in bns)
        before = [m.running_mean.clone() for m in bns]
        out = tower(torch.randn(2, 3, 64, 64), output_hidden_states=-1, return_dict=True, unused_kwarg=1)
        assert tuple(out.last_hidden_state.shape) == (2, 16, 24)
        assert out.hidden_states[-1] is out.last_hidden_state
        assert all(h.dim() == 3 and h.shape[0] == 2 for h in out.hidden_states)
        assert all(torch.equal(a, m.running_mean) for a, m in zip(before, bns))

    @pytest.mark.parametrize(
        "kwargs",
        [
            {"backbone": "resnet"},
            {"backbone": "tiny_cnn", "patch_size": 12, "image_size": 48},
            {"backbone": "efficientnet_lite0", "hidden_size": 64},
            {"backbone": "tiny_cnn", "patch_size": 16, "image_size": 64, "tiny_channels": [8, 8]},
        ],
    )
    def test_config_validation(self, kwargs: dict) -> None:
        from calibrate.zoo.vision_tower import SrcalEfficientNetConfig

        with pytest.raises(ValueError):
            SrcalEfficientNetConfig(**kwargs).validate_architecture()

    def test_pretrained_lite0(self) -> None:
        """Real ImageNet weights: every key loads, 16 x 1280 tokens at 128 px, a known photo's class at 224 px."""
        import matplotlib.cbook
        import numpy as np
        import torch
        from PIL import Image

        from calibrate.zoo import vision_tower as vt

        tower = vt.load_pretrained_efficientnet_lite0(image_size=128)
        package = vt.load_lite0_package_state_dict()
        mapped = vt.map_package_state_dict(package)
        assert set(mapped) == set(tower.state_dict())
        assert {k for k in package if k.startswith("_fc.")} == {"_fc.weight", "_fc.bias"}
        with torch.no_grad():
            out = tower(torch.randn(2, 3, 128, 128), return_dict=True)
        assert tuple(out.hidden_states[-1].shape) == (2, 16, 1280)

        # Grace Hopper (matplotlib's sample photo) -> ImageNet class 652, "military uniform".
        photo = matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
        img = Image.open(photo).convert("RGB").resize((224, 224), Image.BICUBIC)
        x = torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0).permute(2, 0, 1)[None]
        x = (x - torch.tensor(vt.IMAGENET_MEAN)[:, None, None]) / torch.tensor(vt.IMAGENET_STD)[:, None, None]
        tower224 = vt.load_pretrained_efficientnet_lite0(image_size=224)
        with torch.no_grad():
            pooled = tower224(x).pooler_output
        logits = pooled @ package["_fc.weight"].T + package["_fc.bias"]
        assert int(logits.argmax()) == 652
