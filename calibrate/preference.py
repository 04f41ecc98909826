"""Stage 5: preference fine-tuning, DPO plus an SFT term on the chosen response [paper].

trl ``DPOTrainer`` with ``loss_type=["sigmoid", "sft"]`` and ``loss_weights=[1.0, w]``
(paper: beta 0.1, w 0.02, LoRA r 256 / alpha 512, lr 5e-7). The reference model is the
policy at the start of the iteration, obtained by disabling the new LoRA adapter
(``ref_model=None`` with a ``peft_config``): no second copy of the model in memory.

The stage's entry point is :class:`PreferenceStage` (reads ``pairs.jsonl``, writes the checkpoint).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from benchmarks.records import BenchmarkItem
from calibrate.artifacts import Artifact
from calibrate.config import ModelConfig, PreferenceConfig
from calibrate.records import PreferencePair, read_records


def dpo_rows(
    pairs: list[PreferencePair], items: dict[str, BenchmarkItem], data_dir: Path, prompt_style: str
) -> list[dict[str, Any]]:
    """trl conversational preference rows: image + prompt, chosen and rejected responses."""
    from benchmarks.paths import item_image_path
    from calibrate.generation import assistant_turn, item_turn, load_rgb

    paths = [item_image_path(data_dir, items[pair.item_id]) for pair in pairs]  # refused before any read
    return [
        {
            "images": [load_rgb(path)],
            "prompt": item_turn(items[pair.item_id], prompt_style),
            "chosen": assistant_turn(pair.chosen),
            "rejected": assistant_turn(pair.rejected),
        }
        for pair, path in zip(pairs, paths)
    ]


def train_preference(
    base_dir: str,
    pairs: list[PreferencePair],
    items: dict[str, BenchmarkItem],
    data_dir: Path,
    cfg: PreferenceConfig,
    out_dir: Path,
    seed: int,
    prompt_style: str = "bare",
    model: ModelConfig | None = None,
) -> dict[str, Any]:
    """Train one iteration's DPO adapter on ``base_dir``; saves ``out_dir``/{adapter,model}."""
    import datasets
    from trl import DPOConfig, DPOTrainer

    from calibrate.checkpoints import lora_config, save_checkpoint, trainer_dir, trainer_kwargs
    from calibrate.models import load_model

    base = load_model(base_dir, **(model or ModelConfig()).load_kwargs())
    peft_config = lora_config(base.model, cfg)
    fingerprint = {
        "stage": "preference",
        "cfg": asdict(cfg),
        "base": base_dir,
        "pairs": [pair.to_dict() for pair in pairs],
        "seed": seed,
        "prompt_style": prompt_style,
    }
    with trainer_dir(out_dir, cfg, fingerprint) as (tmp, resume):
        args = DPOConfig(
            **trainer_kwargs(tmp, seed, cfg),
            beta=cfg.beta,
            loss_type=["sigmoid", "sft"],
            loss_weights=[1.0, cfg.sft_weight],
        )
        trainer = DPOTrainer(
            model=base.model,
            ref_model=None,
            args=args,
            train_dataset=datasets.Dataset.from_list(dpo_rows(pairs, items, data_dir, prompt_style)),
            processing_class=base.processor,
            peft_config=peft_config,
        )
        result = trainer.train(resume_from_checkpoint=resume)
        logs = [log for log in trainer.state.log_history if "loss" in log]
        # trl logs an evaluation's reward metrics (prefixed eval_) rather than returning them
        trainer.evaluate(trainer.train_dataset)
        final = trainer.state.log_history[-1]
        save_checkpoint(trainer.model, base, out_dir)

    def last(key: str) -> float | None:
        values = [log[key] for log in logs if key in log]
        return round(float(values[-1]), 4) if values else None

    def mean(key: str) -> float | None:
        values = [float(log[key]) for log in logs if key in log]
        return round(sum(values) / len(values), 4) if values else None

    return {
        "pairs": len(pairs),
        "steps": trainer.state.global_step,
        "train_loss": round(result.training_loss, 4),
        "reward_accuracy_mean": mean("rewards/accuracies"),
        "reward_margin_last": last("rewards/margins"),
        "reward_margin_mean": mean("rewards/margins"),
        # one pass over every pair after training (policy in eval mode: no dropout)
        "reward_accuracy_final": _final(final, "rewards/accuracies"),
        "reward_margin_final": _final(final, "rewards/margins"),
        **({"resumed_from": Path(resume).name} if resume else {}),
    }


def _final(metrics: dict[str, Any], key: str) -> float | None:
    value = metrics.get(f"eval_{key}")
    return round(float(value), 4) if value is not None else None


@dataclass
class PreferenceStage:
    """Stage 5's entry point: ``policy`` trained on ``pairs`` into ``directory``/{adapter,model}.

    Without pairs the checkpoint is a copy of ``policy``. Every rank of a distributed launch trains (DDP).
    """

    cfg: PreferenceConfig
    policy: Artifact
    """The checkpoint this iteration starts from (``iter_{k-1}/model``; also the DPO reference)."""
    pairs: Artifact
    """``iter_k/pairs.jsonl``."""
    items: list[BenchmarkItem]
    """The calibration items (the pairs' prompts and images)."""
    data_dir: Path
    directory: Path
    """The iteration's directory (``iter_k``)."""
    seed: int
    prompt_style: str = "bare"
    model: ModelConfig = field(default_factory=ModelConfig)
    """How the policy is loaded (dtype, device, remote code)."""

    name: ClassVar[str] = "preference"
    output: ClassVar[str] = "model"
    mode: ClassVar[str] = "all"

    def config(self) -> dict[str, Any]:
        return asdict(self.cfg)

    def inputs(self) -> dict[str, str]:
        return {"policy": self.policy.hash, "pairs": self.pairs.hash}

    def run(self) -> tuple[list[str], dict[str, Any]]:
        pairs = read_records(PreferencePair, self.pairs.path)
        if not pairs:
            from calibrate.checkpoints import copy_checkpoint

            copy_checkpoint(self.policy.path, self.directory)
            return ["model"], {"pairs": 0, "note": "no pairs kept: the checkpoint is the previous model"}
        summary = train_preference(
            str(self.policy.path),
            pairs,
            {item.id: item for item in self.items},
            self.data_dir,
            self.cfg,
            self.directory,
            self.seed,
            self.prompt_style,
            self.model,
        )
        return ["adapter", "model"], summary
