"""`calibrate.models.load_model`: class resolution, safetensors-only loading, adapters and their base check."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def zoo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="module")
def micro_dir(zoo: Path) -> Path:
    from calibrate.zoo.srcal_micro import build_srcal_micro

    return build_srcal_micro(zoo / "micro0", seed=0)


@pytest.fixture(scope="module")
def micro_dir_other(zoo: Path) -> Path:
    from calibrate.zoo.srcal_micro import build_srcal_micro

    return build_srcal_micro(zoo / "micro1", seed=1)


@pytest.fixture(scope="module")
def inputs(micro_dir: Path) -> dict:
    from PIL import Image
    from transformers import AutoProcessor

    import calibrate.zoo.vision_tower  # noqa: F401

    processor = AutoProcessor.from_pretrained(micro_dir)
    msgs = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "What shape is it?"}]}]
    prompt = processor.apply_chat_template(msgs, add_generation_prompt=True)
    return dict(processor(images=Image.new("RGB", (64, 64), (0, 90, 200)), text=prompt, return_tensors="pt"))


def _logits(model, inputs: dict):
    import torch

    with torch.no_grad():
        return model(**inputs).logits


@pytest.fixture(scope="module")
def adapter_dir(micro_dir: Path, zoo: Path, inputs: dict) -> tuple[Path, object]:
    """A LoRA adapter with non-zero weights on the micro model, saved with `save_adapter`; and its logits."""
    import torch
    from peft import LoraConfig, get_peft_model

    from calibrate.models import default_lora_targets, load_model, save_adapter

    base = load_model(micro_dir)
    torch.manual_seed(0)
    cfg = LoraConfig(
        r=4, lora_alpha=8, target_modules=default_lora_targets(base.model), init_lora_weights=False
    )
    peft_model = get_peft_model(base.model, cfg).eval()
    targeted = {n for n, m in peft_model.named_modules() if hasattr(m, "lora_A")}
    assert targeted and all(".language_model." in n for n in targeted)
    assert all(n.rsplit(".", 1)[-1] in {"q_proj", "k_proj", "v_proj", "o_proj"} for n in targeted)
    logits = _logits(peft_model, inputs)
    out = save_adapter(peft_model, zoo / "adapter", base)
    return out, logits


class TestLoad:
    def test_micro_loads(self, micro_dir: Path) -> None:
        import torch
        from transformers import LlavaForConditionalGeneration, LlavaProcessor

        from calibrate.models import load_model

        loaded = load_model(micro_dir)
        assert isinstance(loaded.model, LlavaForConditionalGeneration)
        assert isinstance(loaded.processor, LlavaProcessor)
        assert loaded.dtype == torch.float32 and loaded.device.type == "cpu"
        assert not loaded.model.training
        assert loaded.model_dir == micro_dir and loaded.adapter is None
        assert len(loaded.base_hash) == 64

    def test_dtype_and_device(self) -> None:
        import torch

        from calibrate.models import resolve_device, resolve_dtype

        assert resolve_dtype("auto", torch.device("cpu")) == torch.float32
        assert resolve_dtype("bf16") == torch.bfloat16 and resolve_dtype("float16") == torch.float16
        assert resolve_device("cpu").type == "cpu"
        with pytest.raises(ValueError):
            resolve_dtype("int3")

    def test_base_hash_tracks_bytes(self, micro_dir: Path, tmp_path: Path) -> None:
        from calibrate.models import base_hash

        copy = Path(shutil.copytree(micro_dir, tmp_path / "copy"))
        assert base_hash(copy) == base_hash(micro_dir)
        weights = copy / "model.safetensors"
        data = bytearray(weights.read_bytes())
        data[-1] ^= 0xFF
        weights.write_bytes(bytes(data))
        assert base_hash(copy) != base_hash(micro_dir)


class TestRefusals:
    def test_corrupt_safetensors_named(self, micro_dir: Path, tmp_path: Path) -> None:
        from calibrate.models import ModelLoadError, load_model

        broken = Path(shutil.copytree(micro_dir, tmp_path / "broken"))
        weights = broken / "model.safetensors"
        weights.write_bytes(weights.read_bytes()[:-1000])
        with pytest.raises(ModelLoadError, match="model.safetensors") as err:
            load_model(broken)
        assert str(weights) in str(err.value)

    def test_pickle_only_refused(self, micro_dir: Path, tmp_path: Path) -> None:
        import torch
        from safetensors.torch import load_file

        from calibrate.models import ModelLoadError, load_model

        pickled = Path(shutil.copytree(micro_dir, tmp_path / "pickled"))
        torch.save(load_file(pickled / "model.safetensors"), pickled / "pytorch_model.bin")
        (pickled / "model.safetensors").unlink()
        with pytest.raises(ModelLoadError, match="pytorch_model.bin"):
            load_model(pickled)

    def test_missing_directory(self, tmp_path: Path) -> None:
        from calibrate.models import ModelLoadError, load_model

        with pytest.raises(ModelLoadError, match="does not exist"):
            load_model(tmp_path / "nope")

    def test_hub_id_offline_uncached(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from calibrate.models import ModelLoadError, load_model

        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
        with pytest.raises(ModelLoadError, match="offline") as err:
            load_model("llava-hf/llava-1.5-7b-hf")
        assert "llava-hf/llava-1.5-7b-hf" in str(err.value)


class TestAdapters:
    def test_reload_matches_saved_model(self, micro_dir: Path, adapter_dir, inputs: dict) -> None:
        import json

        import torch
        from peft import PeftModel

        from calibrate.models import ADAPTER_RECORD, load_model

        path, expected = adapter_dir
        assert (path / "adapter_model.safetensors").is_file()
        record = json.loads((path / ADAPTER_RECORD).read_text())
        assert record["base_model"] == str(micro_dir)
        loaded = load_model(micro_dir, adapter=path)
        assert isinstance(loaded.model, PeftModel) and loaded.adapter == str(path)
        assert record["base_hash"] == loaded.base_hash
        got = _logits(loaded.model, inputs)
        assert torch.allclose(got, expected, atol=1e-6, rtol=0)
        assert not torch.allclose(got, _logits(load_model(micro_dir).model, inputs), atol=1e-3)

    def test_merge_matches(self, micro_dir: Path, adapter_dir, inputs: dict) -> None:
        import torch
        from peft import PeftModel
        from transformers import LlavaForConditionalGeneration

        from calibrate.models import load_model

        path, expected = adapter_dir
        merged = load_model(micro_dir, adapter=path, merge=True)
        assert isinstance(merged.model, LlavaForConditionalGeneration)
        assert not isinstance(merged.model, PeftModel) and merged.merged
        assert torch.allclose(_logits(merged.model, inputs), expected, atol=1e-4, rtol=0)

    def test_mismatched_base(self, micro_dir_other: Path, adapter_dir) -> None:
        from calibrate.models import AdapterMismatchError, load_model

        path, _ = adapter_dir
        with pytest.raises(AdapterMismatchError) as err:
            load_model(micro_dir_other, adapter=path)
        message = str(err.value)
        assert "micro0" in message and str(micro_dir_other) in message

    def test_merge_needs_adapter(self, micro_dir: Path) -> None:
        from calibrate.models import load_model

        with pytest.raises(ValueError):
            load_model(micro_dir, merge=True)


# --------------------------------------------------------------------------- hub-like configs


def _tiny_llama(tokenizer):
    from transformers import LlamaConfig

    return LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=None,
    )


def _tiny_clip():
    from transformers import CLIPVisionConfig

    return CLIPVisionConfig(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        image_size=32,
        patch_size=16,
    )


def _write_hub_like(kind: str, out: Path) -> Path:
    """Tiny random models whose config.json mimics llava-1.5-7b-hf / llama3-llava-next-8b-hf / a causal LM."""
    import torch
    from transformers import (
        CLIPImageProcessorPil,
        LlamaForCausalLM,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaNextConfig,
        LlavaNextForConditionalGeneration,
        LlavaNextImageProcessorPil,
        LlavaNextProcessor,
        LlavaProcessor,
    )

    from calibrate.zoo.tokenizer import build_micro_tokenizer

    tok = build_micro_tokenizer()
    image_token = tok.convert_tokens_to_ids("<image>")
    torch.manual_seed(0)
    if kind == "causal_lm":
        LlamaForCausalLM(_tiny_llama(tok)).save_pretrained(out)
        tok.save_pretrained(out)
        return out
    common = {"vision_feature_select_strategy": "default", "vision_feature_layer": -2}
    if kind == "llava":
        config = LlavaConfig(
            vision_config=_tiny_clip(), text_config=_tiny_llama(tok), image_token_index=image_token, **common
        )
        LlavaForConditionalGeneration(config).save_pretrained(out)
        image_processor = CLIPImageProcessorPil(
            size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}
        )
        processor = LlavaProcessor(
            image_processor, tok, patch_size=16, num_additional_image_tokens=1, **common
        )
    else:
        pinpoints = [[32, 32], [32, 64], [64, 32]]
        config = LlavaNextConfig(
            vision_config=_tiny_clip(),
            text_config=_tiny_llama(tok),
            image_token_index=image_token,
            image_grid_pinpoints=pinpoints,
            **common,
        )
        LlavaNextForConditionalGeneration(config).save_pretrained(out)
        image_processor = LlavaNextImageProcessorPil(
            size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}, image_grid_pinpoints=pinpoints
        )
        processor = LlavaNextProcessor(
            image_processor, tok, patch_size=16, num_additional_image_tokens=1, **common
        )
    processor.save_pretrained(out)
    return out


@pytest.mark.parametrize(
    ("kind", "model_cls", "processor_attr"),
    [
        ("llava", "LlavaForConditionalGeneration", "image_processor"),
        ("llava_next", "LlavaNextForConditionalGeneration", "image_processor"),
        ("causal_lm", "LlamaForCausalLM", "eos_token_id"),
    ],
)
def test_hub_like_dirs_resolve(kind: str, model_cls: str, processor_attr: str, tmp_path: Path) -> None:
    from calibrate.models import default_lora_targets, load_model

    loaded = load_model(_write_hub_like(kind, tmp_path / kind))
    assert type(loaded.model).__name__ == model_cls
    assert loaded.model.config.model_type == ("llama" if kind == "causal_lm" else kind)
    assert hasattr(loaded.processor, processor_attr)
    targets = default_lora_targets(loaded.model)
    assert ("language_model" in targets) == (kind != "causal_lm")


def test_resolve_model_class_by_config() -> None:
    from transformers import AutoModelForImageTextToText, Qwen2VLConfig

    from calibrate.models import ModelLoadError, resolve_model_class
    from calibrate.zoo.vision_tower import SrcalEfficientNetConfig

    assert resolve_model_class(Qwen2VLConfig()) is AutoModelForImageTextToText
    with pytest.raises(ModelLoadError, match="srcal_efficientnet"):
        resolve_model_class(SrcalEfficientNetConfig())


REMOTE_CONFIG = """from transformers import LlamaConfig


class RemoteConfig(LlamaConfig):
    model_type = "srcal_remote_test"
"""
REMOTE_MODEL = """from transformers import LlamaForCausalLM

from .configuration_remote import RemoteConfig


class RemoteModel(LlamaForCausalLM):
    config_class = RemoteConfig
"""


def _remote_code_model(out: Path) -> Path:
    """A local causal LM whose classes come from files in its own directory (``auto_map``)."""
    import json

    from transformers import LlamaConfig, LlamaForCausalLM

    from calibrate.zoo.tokenizer import build_micro_tokenizer

    tok = build_micro_tokenizer()
    config = LlamaConfig(
        vocab_size=len(tok), hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2
    )
    LlamaForCausalLM(config).save_pretrained(out)
    tok.save_pretrained(out)
    data = json.loads((out / "config.json").read_text())
    data["model_type"] = "srcal_remote_test"
    data["auto_map"] = {
        "AutoConfig": "configuration_remote.RemoteConfig",
        "AutoModelForCausalLM": "modeling_remote.RemoteModel",
    }
    (out / "config.json").write_text(json.dumps(data))
    (out / "configuration_remote.py").write_text(REMOTE_CONFIG)
    (out / "modeling_remote.py").write_text(REMOTE_MODEL)
    return out


class TestModelConfigReachesTheLoader:
    def test_remote_code_is_refused_unless_the_run_allows_it(self, tmp_path: Path) -> None:
        from calibrate.config import ModelConfig
        from calibrate.models import load_model

        remote = _remote_code_model(tmp_path / "remote")
        with pytest.raises(Exception, match="trust_remote_code"):
            load_model(remote, **ModelConfig().load_kwargs())
        loaded = load_model(remote, **ModelConfig(device="cpu", trust_remote_code=True).load_kwargs())
        assert type(loaded.model).__name__ == "RemoteModel" and loaded.device.type == "cpu"

    def test_every_stage_loads_the_policy_with_the_runs_model_config(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, smoke_dataset: Path
    ) -> None:
        """RFT, candidates, preference and the scorer's candidate pass pass dtype, device and remote code through."""
        import calibrate.models
        from benchmarks.records import read_items
        from calibrate.artifacts import Artifact
        from calibrate.candidates import CandidateStage
        from calibrate.config import CandidateConfig, ModelConfig, PreferenceConfig, RFTConfig, ScorerConfig
        from calibrate.preference import train_preference
        from calibrate.rationale_sft import train_rft
        from calibrate.scorer.train import ScorerStage

        seen: list[dict] = []

        class Stop(Exception):
            pass

        def fake_load(path, **kwargs):
            seen.append(kwargs)
            raise Stop

        monkeypatch.setattr(calibrate.models, "load_model", fake_load)
        model = ModelConfig(dtype="bf16", device="cpu", trust_remote_code=True)
        policy = Artifact(tmp_path, "h")
        pool = read_items(smoke_dataset / "rft.jsonl")[:2]
        calls = [
            lambda: train_rft("m", pool, smoke_dataset, RFTConfig(), tmp_path, 0, model),
            lambda: train_preference(
                "m", [object()], {}, tmp_path, PreferenceConfig(), tmp_path, 0, "bare", model
            ),
            lambda: CandidateStage(CandidateConfig(), policy, [], "h", tmp_path, tmp_path, 0, model).run(),
            lambda: ScorerStage(
                ScorerConfig(), CandidateConfig(), policy, [], "h", tmp_path, tmp_path, 0, model
            ).run(),
        ]
        for call in calls:
            with pytest.raises(Stop):
                call()
        assert seen == [{"dtype": "bf16", "device": "cpu", "trust_remote_code": True}] * len(calls)
