"""tools/llava_shape.py (built directly in bf16) and tools/cpu_7b_check.py at the tiny shape."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


def test_llava_shape_initialises_in_bf16(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No fp32 copy first (28 GB at the 7b shape): the model is created with bf16 as the default dtype."""
    import torch
    import transformers
    from safetensors import safe_open

    from tools import llava_shape

    seen = []
    original = transformers.LlavaForConditionalGeneration.__init__

    def init(self, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        seen.append(torch.get_default_dtype())
        original(self, *args, **kwargs)

    monkeypatch.setattr(transformers.LlavaForConditionalGeneration, "__init__", init)
    out = llava_shape.build(tmp_path / "tiny", "tiny")
    assert seen == [torch.bfloat16]
    assert torch.get_default_dtype() == torch.float32  # restored
    with safe_open(str(out / "model.safetensors"), framework="pt") as handle:
        dtypes = {str(handle.get_slice(k).get_dtype()) for k in handle.keys()}  # noqa: SIM118 (no __iter__)
    assert dtypes == {"BF16"}


def test_default_dtype_is_restored_after_an_error() -> None:
    import torch

    from tools.llava_shape import default_dtype

    with pytest.raises(RuntimeError), default_dtype(torch.bfloat16):
        assert torch.empty(1).dtype == torch.bfloat16
        raise RuntimeError("boom")
    assert torch.get_default_dtype() == torch.float32


def test_cpu_7b_check_stages_on_the_tiny_shape(
    tmp_path: Path, smoke_dataset: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tools import cpu_7b_check

    monkeypatch.setattr(cpu_7b_check, "data_dir", lambda: smoke_dataset)
    work = tmp_path / "work"
    cpu_7b_check.build(work, "tiny")
    rows = [cpu_7b_check.run_stage(stage, work, []) for stage in ("candidates", "verdicts")]
    candidates, verdicts = rows
    assert candidates["settings"] == {"batch_size": 1, "num_candidates": 8, "max_new_tokens": 64}
    assert candidates["forwards"]["prefill"]["forwards"] == 1
    assert candidates["forwards"]["decode"]["rows"] == [8]
    assert verdicts["summary"]["ordered_pairs"] == 16  # one forward batch of the preset's 16 rows
    assert verdicts["settings"]["dtype"] == "fp32"
    for row in rows:
        assert row["peak_rss_gib"] > 0 and row["wall_s"] > 0
        assert json.loads((work / "figures" / f"{row['stage']}.json").read_text())["stage"] == row["stage"]
    assert "| candidates |" in cpu_7b_check.table(rows)
