"""Iteration checkpoints: a LoRA-trained policy saved as adapter + merged model, atomically.

``iter_k/adapter/`` is the PEFT adapter trained on ``iter_{k-1}/model`` (its
``srcal_adapter.json`` records that base's hash); ``iter_k/model/`` is the base with the
adapter merged, the starting point of iteration k+1 and what the harness evaluates.
Both are written into a staging directory renamed into place, so a crash never leaves
a checkpoint that looks finished.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from calibrate.config import LoRATrainingConfig
from calibrate.models import LoadedModel, save_adapter

ADAPTER_DIR = "adapter"
MODEL_DIR = "model"
TRAINER_DIR = ".trainer"
"""A training stage's resumable trainer checkpoints (``checkpoint_steps`` > 0), inside its directory."""


def rank() -> int:
    """This process's rank in an ``accelerate launch``/torchrun job (0 in a single process)."""
    return int(os.environ.get("RANK", "0"))


def world_size() -> int:
    """Processes in the job (1 in a single process)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_main_process() -> bool:
    """Rank 0 of an ``accelerate launch``/torchrun job (or a single process)."""
    return rank() == 0


def own_indices(count: int) -> list[int]:
    """The item indices this rank handles: ``i % world_size == rank`` (all of them in a single process).

    The one sharding rule of per-item work (verdicts, evaluation); the merged result is in item order.
    """
    return [i for i in range(count) if i % world_size() == rank()]


def wait_for_everyone() -> None:
    """A barrier across the processes of a distributed job (no-op in a single process)."""
    if world_size() > 1:
        import torch
        from accelerate import PartialState

        # cpu=True on CPU-only machines: else accelerate sees no distributed setup and skips the barrier
        PartialState(cpu=not torch.cuda.is_available()).wait_for_everyone()


def save_checkpoint(peft_model: Any, base: LoadedModel, out_dir: Path) -> Path:
    """Save ``peft_model``'s adapter and its merge into ``base`` under ``out_dir``/{adapter,model}.

    Under a distributed launch only rank 0 writes; the others wait for it.
    """
    if not is_main_process():
        wait_for_everyone()
        return out_dir / MODEL_DIR
    stage = out_dir / f".checkpoint.partial-{os.getpid()}"
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir(parents=True)
    try:
        save_adapter(peft_model, stage / ADAPTER_DIR, base)
        merged = peft_model.merge_and_unload()
        merged.save_pretrained(stage / MODEL_DIR)
        base.processor.save_pretrained(stage / MODEL_DIR)
        for name in (ADAPTER_DIR, MODEL_DIR):
            shutil.rmtree(out_dir / name, ignore_errors=True)
            os.replace(stage / name, out_dir / name)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    wait_for_everyone()
    return out_dir / MODEL_DIR


def copy_checkpoint(previous_model: Path, out_dir: Path) -> Path:
    """An iteration that trained nothing (no pairs kept): its model is the previous one, copied."""
    stage = out_dir / f".checkpoint.partial-{os.getpid()}"
    shutil.rmtree(stage, ignore_errors=True)
    shutil.copytree(previous_model, stage)
    shutil.rmtree(out_dir / MODEL_DIR, ignore_errors=True)
    os.replace(stage, out_dir / MODEL_DIR)
    return out_dir / MODEL_DIR


def lora_config(model: Any, cfg: LoRATrainingConfig) -> Any:
    """The LoRA of a policy-training stage: the language model's attention projections only."""
    from peft import LoraConfig

    from calibrate.models import default_lora_targets

    return LoraConfig(
        r=cfg.lora_r,
        lora_alpha=cfg.lora_alpha,
        lora_dropout=cfg.lora_dropout,
        target_modules=default_lora_targets(model),
        task_type="CAUSAL_LM",
    )


def trainer_kwargs(out: str, seed: int, cfg: LoRATrainingConfig) -> dict[str, Any]:
    """Arguments shared by srcal's trl trainers (SFT and DPO): seeded, no checkpoints, CPU-aware."""
    import dataclasses

    import torch
    from transformers import TrainingArguments

    names = {f.name for f in dataclasses.fields(TrainingArguments)}
    checkpointing = (
        "activation_checkpointing" if "activation_checkpointing" in names else "gradient_checkpointing"
    )

    return {
        "output_dir": out,
        "seed": seed,
        "data_seed": seed,
        "learning_rate": cfg.learning_rate,
        "per_device_train_batch_size": cfg.batch_size,
        "gradient_accumulation_steps": cfg.gradient_accumulation_steps,
        "num_train_epochs": cfg.epochs,
        "max_steps": cfg.max_steps,
        "lr_scheduler_type": "cosine",
        "warmup_steps": 0.05,
        "logging_steps": 1,
        # checkpoint_steps > 0: resumable checkpoints (the last two: one may be cut by a kill mid-save)
        "save_strategy": "steps" if cfg.checkpoint_steps else "no",
        "save_steps": max(cfg.checkpoint_steps, 1),
        "save_total_limit": 2,
        "report_to": [],
        "max_length": None,
        # transformers >= 5.x renamed gradient_checkpointing to activation_checkpointing;
        # non-reentrant: works with frozen inputs (LoRA) and replays dropout masks exactly
        checkpointing: cfg.gradient_checkpointing,
        f"{checkpointing}_kwargs": {"use_reentrant": False} if cfg.gradient_checkpointing else None,
        "dataloader_num_workers": 0,
        "use_cpu": not torch.cuda.is_available(),
        # Trainer autocasts to bf16 only when asked: on CPU that is `mixed_precision: bf16`
        "bf16": cfg.mixed_precision == "bf16"
        or (cfg.mixed_precision == "auto" and torch.cuda.is_available() and torch.cuda.is_bf16_supported()),
        "disable_tqdm": False,
    }


@contextmanager
def trainer_dir(
    out_dir: Path, cfg: LoRATrainingConfig, fingerprint: dict[str, Any]
) -> Iterator[tuple[str, str | None]]:
    """(where the stage's trainer writes, the checkpoint to resume from or None).

    Without ``cfg.checkpoint_steps`` a temporary directory: nothing outlives the stage. With it
    ``out_dir/.trainer``, whose last complete checkpoint is resumed when ``fingerprint`` (the
    stage's settings and inputs) equals the one recorded there; a directory of other settings or
    inputs is cleared first. The directory is removed once the block finishes without error.
    """
    if not cfg.checkpoint_steps:
        with tempfile.TemporaryDirectory(prefix="srcal-trainer-") as tmp:
            yield tmp, None
        return
    path = out_dir / TRAINER_DIR
    stamp = json.dumps(fingerprint, sort_keys=True, default=str)
    record = path / "fingerprint.json"
    if is_main_process():
        if path.is_dir() and (not record.is_file() or record.read_text() != stamp):
            shutil.rmtree(path)
        path.mkdir(parents=True, exist_ok=True)
        record.write_text(stamp)
    wait_for_everyone()
    yield str(path), last_complete_checkpoint(path)
    wait_for_everyone()
    if is_main_process():
        shutil.rmtree(path, ignore_errors=True)


def last_complete_checkpoint(path: Path) -> str | None:
    """The highest ``checkpoint-N`` under ``path`` whose trainer state was written (a trainer writes it last)."""
    steps = []
    for child in path.glob("checkpoint-*"):
        match = re.fullmatch(r"checkpoint-(\d+)", child.name)
        if match and (child / "trainer_state.json").is_file():
            steps.append((int(match.group(1)), child))
    return str(max(steps)[1]) if steps else None
