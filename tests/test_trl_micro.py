"""trl's vision SFT and DPO drive srcal-micro with LoRA on the language model only."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from benchmarks.prompts import build_prompt
from benchmarks.records import read_items
from calibrate.generation import user_turn
from calibrate.models import default_lora_targets, load_model


@pytest.fixture(scope="module")
def micro(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from calibrate.zoo.srcal_micro import build_srcal_micro

    return build_srcal_micro(tmp_path_factory.mktemp("micro") / "srcal-micro")


def _items(smoke_dataset: Path, n: int = 8) -> list:
    return read_items(smoke_dataset / "rft.jsonl")[:n]


def _image(smoke_dataset: Path, item) -> object:
    from PIL import Image

    with Image.open(smoke_dataset / item.image) as image:
        return image.convert("RGB")


def _snapshot(model) -> dict[str, torch.Tensor]:
    return {name: p.detach().clone() for name, p in model.named_parameters()}


def _assert_only_lora_changed(model, before: dict[str, torch.Tensor]) -> None:
    changed_lora, frozen_moved = 0, []
    for name, param in model.named_parameters():
        moved = not torch.equal(before[name], param.detach())
        if "lora_" in name:
            changed_lora += moved
            assert "language_model" in name, f"LoRA outside the language model: {name}"
        elif moved:
            frozen_moved.append(name)
    lora_b = [n for n, _ in model.named_parameters() if "lora_B" in n]
    assert lora_b, "no LoRA parameters were created"
    assert changed_lora >= len(lora_b), f"only {changed_lora} LoRA tensors changed"
    assert not frozen_moved, f"frozen parameters changed: {frozen_moved[:5]}"


def _lora_config(model):
    from peft import LoraConfig

    return LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, target_modules=default_lora_targets(model))


def run_lora_sft(model_dir: Path, smoke_dataset: Path, tmp_path: Path, batch_size: int = 4) -> None:
    """Three SFT steps with LoRA on the language model; asserts only LoRA moved."""
    import datasets
    from trl import SFTConfig, SFTTrainer

    loaded = load_model(model_dir)
    rows = [
        {
            "images": [_image(smoke_dataset, item)],
            "prompt": user_turn(build_prompt(item.question, item.choices)),
            "completion": [{"role": "assistant", "content": [{"type": "text", "text": item.rationale}]}],
        }
        for item in _items(smoke_dataset)
    ]
    args = SFTConfig(
        output_dir=str(tmp_path),
        max_steps=3,
        per_device_train_batch_size=batch_size,
        learning_rate=1e-2,
        save_strategy="no",
        report_to=[],
        use_cpu=True,
        max_length=None,
        gradient_checkpointing=False,
    )
    trainer = SFTTrainer(
        model=loaded.model,
        args=args,
        train_dataset=datasets.Dataset.from_list(rows),
        processing_class=loaded.processor,
        peft_config=_lora_config(loaded.model),
    )
    before = _snapshot(trainer.model)
    result = trainer.train()
    assert result.training_loss > 0
    _assert_only_lora_changed(trainer.model, before)


def run_lora_dpo(model_dir: Path, smoke_dataset: Path, tmp_path: Path, batch_size: int = 4) -> None:
    """Three DPO(+SFT term) steps, reference = adapter disabled; asserts only LoRA moved."""
    import datasets
    from trl import DPOConfig, DPOTrainer

    loaded = load_model(model_dir)
    rows = []
    for item in _items(smoke_dataset):
        prompt = user_turn(build_prompt(item.question, item.choices))
        rows.append(
            {
                "images": [_image(smoke_dataset, item)],
                "prompt": prompt,
                "chosen": [{"role": "assistant", "content": [{"type": "text", "text": item.rationale}]}],
                "rejected": [{"role": "assistant", "content": [{"type": "text", "text": "Answer: nothing"}]}],
            }
        )
    args = DPOConfig(
        output_dir=str(tmp_path),
        max_steps=3,
        per_device_train_batch_size=batch_size,
        learning_rate=1e-2,
        beta=0.1,
        loss_type=["sigmoid", "sft"],
        loss_weights=[1.0, 0.02],
        save_strategy="no",
        report_to=[],
        use_cpu=True,
        max_length=None,
        gradient_checkpointing=False,
    )
    trainer = DPOTrainer(
        model=loaded.model,
        ref_model=None,  # the reference is the base with the adapter disabled: no second copy
        args=args,
        train_dataset=datasets.Dataset.from_list(rows),
        processing_class=loaded.processor,
        peft_config=_lora_config(loaded.model),
    )
    before = _snapshot(trainer.model)
    trainer.train()
    _assert_only_lora_changed(trainer.model, before)
    logged = [log for log in trainer.state.log_history if "rewards/margins" in log or "loss" in log]
    assert logged, "DPO logged no metrics"


class TestSFT:
    def test_lora_sft_changes_only_lora(self, micro: Path, smoke_dataset: Path, tmp_path: Path) -> None:
        run_lora_sft(micro, smoke_dataset, tmp_path)


class TestDPO:
    def test_dpo_with_sft_term_changes_only_lora(
        self, micro: Path, smoke_dataset: Path, tmp_path: Path
    ) -> None:
        run_lora_dpo(micro, smoke_dataset, tmp_path)


@pytest.mark.parametrize("precision", ["bf16", "auto"])
def test_mixed_precision_bf16_autocasts_on_cpu(
    micro: Path, smoke_dataset: Path, tmp_path: Path, precision: str
) -> None:
    """`mixed_precision: bf16` makes the Trainer autocast to bf16 on CPU too; `auto` leaves CPU in fp32."""
    from calibrate.config import RFTConfig
    from calibrate.rationale_sft import train_rft

    seen: list[tuple[bool, torch.dtype]] = []

    def record(module, args, output) -> None:
        if isinstance(module, torch.nn.Linear) and torch.is_grad_enabled():
            seen.append((torch.is_autocast_enabled("cpu"), output.dtype))

    handle = torch.nn.modules.module.register_module_forward_hook(record)
    try:
        cfg = RFTConfig(max_steps=2, batch_size=2, max_items=4, learning_rate=1e-3, mixed_precision=precision)
        pool = read_items(smoke_dataset / "rft.jsonl")[:4]
        summary = train_rft(str(micro), pool, smoke_dataset, cfg, tmp_path / "out", seed=0)
    finally:
        handle.remove()
    assert seen and summary["steps"] == 2 and summary["train_loss"] == summary["train_loss"]  # not NaN
    if precision == "bf16":
        assert all(enabled for enabled, _ in seen) and {dtype for _, dtype in seen} == {torch.bfloat16}
    else:
        assert not any(enabled for enabled, _ in seen) and {dtype for _, dtype in seen} == {torch.float32}
    from safetensors.torch import load_file

    weights = load_file(tmp_path / "out" / "adapter" / "adapter_model.safetensors")
    assert weights and {w.dtype for w in weights.values()} == {torch.float32}  # fp32 master weights


def test_preference_stage_reports_reward_accuracy_over_all_pairs_after_training(
    micro: Path, smoke_dataset: Path, tmp_path: Path
) -> None:
    """train_preference ends with one pass over every pair: reward accuracy/margin of the trained policy."""
    from calibrate.config import PreferenceConfig
    from calibrate.preference import train_preference
    from calibrate.records import PreferencePair

    items = _items(smoke_dataset)
    pairs = [
        PreferencePair(item.id, 0, 1, item.rationale, "Answer: nothing", 1.0, {"0": 1.0, "1": 0.0})
        for item in items
    ]
    cfg = PreferenceConfig(lora_r=8, lora_alpha=16, learning_rate=5e-3, max_steps=8, batch_size=4)
    summary = train_preference(
        str(micro), pairs, {item.id: item for item in items}, smoke_dataset, cfg, tmp_path / "out", seed=0
    )
    assert summary["pairs"] == len(pairs) and summary["steps"] == 8
    # chosen responses gained on rejected ones relative to the reference (the policy before training)
    assert summary["reward_margin_final"] > 0
    assert summary["reward_accuracy_final"] >= 0.75
    assert (tmp_path / "out" / "model" / "config.json").is_file()


def test_an_interrupted_rft_stage_resumes_from_its_last_checkpoint(
    micro: Path, smoke_dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """checkpoint_steps: killed after step 2 of 4, the stage resumes there and ends where an uninterrupted run does."""
    from dataclasses import replace

    from safetensors.torch import load_file
    from transformers import Trainer

    from calibrate.config import RFTConfig
    from calibrate.rationale_sft import train_rft

    items = _items(smoke_dataset)
    cfg = RFTConfig(lora_r=4, lora_alpha=8, learning_rate=1e-3, max_steps=4, batch_size=2, checkpoint_steps=2)
    whole = train_rft(
        str(micro), items, smoke_dataset, replace(cfg, checkpoint_steps=0), tmp_path / "whole", 0
    )
    save = Trainer._save_checkpoint

    def killed_after_saving(self, *args, **kwargs):
        save(self, *args, **kwargs)
        raise RuntimeError("killed")

    monkeypatch.setattr(Trainer, "_save_checkpoint", killed_after_saving)
    with pytest.raises(RuntimeError, match="killed"):
        train_rft(str(micro), items, smoke_dataset, cfg, tmp_path / "cut", 0)
    monkeypatch.undo()
    assert (tmp_path / "cut" / ".trainer" / "checkpoint-2" / "trainer_state.json").is_file()
    assert not (tmp_path / "cut" / "model").exists()  # nothing that looks finished
    resumed = train_rft(str(micro), items, smoke_dataset, cfg, tmp_path / "cut", 0)
    assert resumed["resumed_from"] == "checkpoint-2" and resumed["steps"] == whole["steps"] == 4
    assert not (tmp_path / "cut" / ".trainer").exists()
    ours = load_file(str(tmp_path / "cut" / "adapter" / "adapter_model.safetensors"))
    theirs = load_file(str(tmp_path / "whole" / "adapter" / "adapter_model.safetensors"))
    assert ours.keys() == theirs.keys()
    for name in ours:
        assert torch.allclose(ours[name], theirs[name], atol=1e-6), name
    # other settings or inputs never resume a stale checkpoint
    monkeypatch.setattr(Trainer, "_save_checkpoint", killed_after_saving)
    with pytest.raises(RuntimeError):
        train_rft(str(micro), items, smoke_dataset, cfg, tmp_path / "other", 0)
    monkeypatch.undo()
    other = train_rft(str(micro), items[:6], smoke_dataset, cfg, tmp_path / "other", 0)
    assert "resumed_from" not in other
