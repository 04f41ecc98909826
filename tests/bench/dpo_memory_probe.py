"""One DPO run in a fresh process, printing its peak RSS (used by test_bench_dpo_memory.py).

usage: python -m tests.bench.dpo_memory_probe MODEL_DIR DATA_DIR disabled_adapter|explicit_copy
"""

from __future__ import annotations

import json
import resource
import sys
import tempfile
from pathlib import Path


def _peak_rss_kb() -> int:
    """This process's peak resident set (``VmHWM``), in kB.

    Not ``getrusage(RUSAGE_SELF).ru_maxrss``: Linux keeps that across ``execve``, so a probe started
    from a large parent (a pytest process holding models) reports the parent's peak.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def main(model_dir: str, data_dir: str, mode: str) -> None:
    import datasets
    from peft import LoraConfig
    from trl import DPOConfig, DPOTrainer

    from benchmarks.records import read_items
    from calibrate.checkpoints import trainer_kwargs
    from calibrate.config import PreferenceConfig
    from calibrate.models import default_lora_targets, load_model
    from calibrate.preference import dpo_rows
    from calibrate.records import PreferencePair

    policy = load_model(model_dir)
    reference = load_model(model_dir).model if mode == "explicit_copy" else None
    items = read_items(Path(data_dir) / "calib.jsonl")[:4]
    pairs = [PreferencePair(i.id, 0, 1, i.rationale, f"Answer: {i.answer}x", 1.0, {}) for i in items]
    rows = dpo_rows(pairs, {i.id: i for i in items}, Path(data_dir), "bare")
    with tempfile.TemporaryDirectory() as tmp:
        args = DPOConfig(
            **trainer_kwargs(tmp, 0, PreferenceConfig(learning_rate=1e-5, batch_size=2, max_steps=2)),
            beta=0.1,
            loss_type=["sigmoid", "sft"],
            loss_weights=[1.0, 0.02],
        )
        lora = LoraConfig(
            r=8, lora_alpha=16, target_modules=default_lora_targets(policy.model), task_type="CAUSAL_LM"
        )
        trainer = DPOTrainer(
            model=policy.model,
            ref_model=reference,
            args=args,
            train_dataset=datasets.Dataset.from_list(rows),
            processing_class=policy.processor,
            peft_config=lora,
        )
        trainer.train()
    params = sum(p.numel() * p.element_size() for p in policy.model.parameters())
    peak_kb = _peak_rss_kb()
    print(
        json.dumps(
            {"mode": mode, "peak_rss_mb": round(peak_kb / 1024, 1), "model_mb": round(params / 2**20, 1)}
        )
    )


if __name__ == "__main__":
    main(*sys.argv[1:4])
