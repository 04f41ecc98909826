"""Stage 1: rationale fine-tuning (RFT), producing ``iter_0``.

A light LoRA SFT (trl ``SFTTrainer``) that teaches the model to answer with a rationale
first and ``Answer: <answer>`` last, *without* a prompt asking for it [paper]: prompts
use the ``bare`` style (question and options only), completions are the pool's
rationales, and the loss covers the completion only (prompt and image tokens masked).

Rationales come from the ``rft`` pool's gold rationales (built-in suites: rendered from
facts) or from a teacher model's file (``RFTConfig.teacher_rationales``: JSONL
``{"id": ..., "rationale": ...}``); a teacher rationale is kept only if its final
answer matches the gold answer [ours].

The stage's entry point is :class:`RFTStage`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar

from benchmarks.fileio import sha256_file
from benchmarks.parsing import parse_response
from benchmarks.pools import composition, pool_hash
from benchmarks.records import BenchmarkItem
from benchmarks.scoring import answers_match
from calibrate.config import ModelConfig, RFTConfig


class TeacherFileError(ValueError):
    """A malformed teacher-rationale file (the message names file, line and field)."""


def apply_teacher_rationales(
    items: list[BenchmarkItem], path: str | Path
) -> tuple[list[BenchmarkItem], dict]:
    """Replace gold rationales with a teacher's; keep only those whose final answer is the gold one."""
    by_id: dict[str, str] = {}
    with open(path, encoding="utf-8") as handle:
        for lineno, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise TeacherFileError(f"{path}:{lineno}: invalid JSON ({exc.msg})") from exc
            for name in ("id", "rationale"):
                if not isinstance(record.get(name), str):
                    raise TeacherFileError(f"{path}:{lineno}: field {name!r}: missing or not a string")
            by_id[record["id"]] = record["rationale"]
    kept, wrong, missing = [], 0, 0
    for item in items:
        rationale = by_id.get(item.id)
        if rationale is None:
            missing += 1
        elif teacher_drop_reason(item, rationale) is None:
            kept.append(replace(item, rationale=rationale))
        else:
            wrong += 1
    return kept, {"teacher_kept": len(kept), "teacher_wrong_answer": wrong, "teacher_missing": missing}


def teacher_drop_reason(item: BenchmarkItem, rationale: str) -> str | None:
    """Why a teacher rationale is not kept (``no_answer``: nothing parseable; ``wrong_answer``), else None."""
    parsed = parse_response(rationale, item.answer_type, item.choices)
    if parsed.final_answer is None:
        return "no_answer"
    if not answers_match(parsed.final_answer, item.answer, item.answer_type, item.choices):
        return "wrong_answer"
    return None


def rft_items(pool: list[BenchmarkItem], cfg: RFTConfig) -> tuple[list[BenchmarkItem], dict[str, Any]]:
    """The items stage 1 trains on: its drawn ``pool`` with the teacher filter applied."""
    items = list(pool)
    info: dict[str, Any] = {"pool_items": len(items), "pool": composition(items)}
    if cfg.teacher_rationales:
        items, teacher = apply_teacher_rationales(items, cfg.teacher_rationales)
        info.update(teacher)
    bare = [item for item in items if not item.rationale.strip()]
    if bare:
        sources = sorted({item.suite for item in bare})
        raise ValueError(
            f"rationale fine-tuning: {len(bare)} of {len(items)} items have no rationale to train on (public "
            f"training sources: {', '.join(sources)}); write teacher rationales for them (srcal teacher rationales "
            "--split rft) and set rft.teacher_rationales to that file"
        )
    if cfg.rationale_targets == "counted":
        counted = [replace(item, rationale=counted_rationale(item)) for item in items]
        info["counted_targets"] = sum(a.rationale != b.rationale for a, b in zip(counted, items))
        items = counted
    return items, info


def counted_rationale(item: BenchmarkItem) -> str:
    """``item``'s rationale with its enumeration opened by its count (its built-in suite's rule; others as is)."""
    from benchmarks.registry import SUITES

    if item.suite not in SUITES:  # a public benchmark's item: no suite rule
        return item.rationale
    return SUITES.get(item.suite).counted_rationale(item.rationale, item.facts or {})


def sft_rows(items: list[BenchmarkItem], data_dir: Path, prompt_style: str) -> list[dict[str, Any]]:
    """trl conversational prompt/completion rows (image + bare question -> rationale + answer)."""
    from benchmarks.paths import item_image_path
    from calibrate.generation import assistant_turn, item_turn, load_rgb

    paths = [item_image_path(data_dir, item) for item in items]  # refused before any read
    return [
        {
            "images": [load_rgb(path)],
            "prompt": item_turn(item, prompt_style),
            "completion": assistant_turn(item.rationale),
        }
        for item, path in zip(items, paths)
    ]


def train_rft(
    base_dir: str,
    pool: list[BenchmarkItem],
    data_dir: Path,
    cfg: RFTConfig,
    out_dir: Path,
    seed: int,
    model: ModelConfig | None = None,
) -> dict:
    """Train the RFT adapter on ``base_dir`` over ``pool`` and save ``out_dir``/{adapter,model}; returns a summary."""
    import datasets
    from trl import SFTConfig, SFTTrainer

    from calibrate.checkpoints import lora_config, save_checkpoint, trainer_dir, trainer_kwargs
    from calibrate.models import load_model

    items, info = rft_items(pool, cfg)
    if not items:
        raise ValueError(f"no rationale fine-tuning items left of the rft pool in {data_dir} ({info})")
    base = load_model(base_dir, **(model or ModelConfig()).load_kwargs())
    peft_config = lora_config(base.model, cfg)
    fingerprint = {
        "stage": "rft",
        "cfg": asdict(cfg),
        "base": base_dir,
        "items": [i.id for i in items],
        "seed": seed,
    }
    with trainer_dir(out_dir, cfg, fingerprint) as (tmp, resume):
        args = SFTConfig(**trainer_kwargs(tmp, seed, cfg))
        trainer = SFTTrainer(
            model=base.model,
            args=args,
            train_dataset=datasets.Dataset.from_list(sft_rows(items, data_dir, cfg.prompt_style)),
            processing_class=base.processor,
            peft_config=peft_config,
        )
        result = trainer.train(resume_from_checkpoint=resume)
        losses = [log["loss"] for log in trainer.state.log_history if "loss" in log]
        save_checkpoint(trainer.model, base, out_dir)
    return {
        **info,
        "train_items": len(items),
        "steps": trainer.state.global_step,
        "first_loss": round(losses[0], 4) if losses else None,
        "last_loss": round(losses[-1], 4) if losses else None,
        "train_loss": round(result.training_loss, 4),
        **({"resumed_from": Path(resume).name} if resume else {}),
    }


@dataclass
class RFTStage:
    """Stage 1's entry point: ``base`` fine-tuned on the ``rft`` pool into ``directory``/{adapter,model}."""

    cfg: RFTConfig
    base: str
    """The base model's directory (a resolved zoo name, hub id or path)."""
    pool: list[BenchmarkItem]
    """The items drawn from the ``rft`` split (`benchmarks.pools.stratified_pool`)."""
    pool_hash: str
    """Hash of the ``rft`` split."""
    data_dir: Path
    directory: Path
    """``iter_0``."""
    seed: int
    model: ModelConfig = field(default_factory=ModelConfig)
    """How the policy is loaded (dtype, device, remote code)."""

    name: ClassVar[str] = "rft"
    output: ClassVar[str] = "model"
    mode: ClassVar[str] = "all"

    def config(self) -> dict[str, Any]:
        return asdict(self.cfg)

    def inputs(self) -> dict[str, str]:
        inputs = {"base": self.base, "rft_pool": self.pool_hash, "items": pool_hash(self.pool)}
        if self.cfg.teacher_rationales:  # the file's content, not only its path (config)
            inputs["teacher_rationales"] = sha256_file(self.cfg.teacher_rationales)
        return inputs

    def run(self) -> tuple[list[str], dict[str, Any]]:
        summary = train_rft(
            self.base, self.pool, self.data_dir, self.cfg, self.directory, self.seed, self.model
        )
        return ["adapter", "model"], summary
